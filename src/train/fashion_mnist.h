// Fashion-MNIST (Debian's dataset-fashion-mnist: 60,000 training and 10,000
// test images of 28 x 28 unsigned bytes, labels 0..9, as gzip-compressed IDX
// files, io/idx.h): images as f32 [N, 1, 28, 28] holding pixel / 255.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace lowbit {

// Where the Debian package puts it.
constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

struct ImageDataset {
  int64_t n = 0, channels = 1, height = 0, width = 0;
  int classes = 10;
  std::vector<float> images;    // n x channels x height x width
  std::vector<int32_t> labels;  // n, in [0, classes)
  int64_t image_size() const { return channels * height * width; }
};

// split: "train" or "test". Reads DIR/{train,t10k}-{images-idx3,labels-idx1}
// -ubyte[.gz]; a missing folder or file, or files that disagree (counts,
// 28 x 28, labels past 9), are refused naming the file.
Result<ImageDataset> LoadFashionMnist(const std::string& dir,
                                      const std::string& split);

}  // namespace lowbit
