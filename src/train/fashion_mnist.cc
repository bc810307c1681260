#include "train/fashion_mnist.h"

#include <filesystem>

#include "io/idx.h"

namespace lowbit {

Result<ImageDataset> LoadFashionMnist(const std::string& dir,
                                      const std::string& split) {
  namespace fs = std::filesystem;
  if (split != "train" && split != "test") {
    return InvalidArgument("Fashion-MNIST split '" + split +
                           "': expected train or test");
  }
  if (!fs::is_directory(dir)) {
    return IoError(dir +
                   ": no such folder (Fashion-MNIST comes from Debian: "
                   "apt-get install dataset-fashion-mnist)");
  }
  const std::string stem = split == "train" ? "train" : "t10k";
  auto find = [&](const std::string& base) -> Result<std::string> {
    for (const std::string& name : {base + ".gz", base}) {
      const std::string p = (fs::path(dir) / name).string();
      if (fs::exists(p)) return p;
    }
    return IoError((fs::path(dir) / (base + ".gz")).string() +
                   ": missing (a Fashion-MNIST folder holds "
                   "{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz)");
  };
  LB_ASSIGN_OR_RETURN(const std::string ip, find(stem + "-images-idx3-ubyte"));
  LB_ASSIGN_OR_RETURN(const std::string lp, find(stem + "-labels-idx1-ubyte"));
  LB_ASSIGN_OR_RETURN(IdxArray im, ReadIdx(ip));
  LB_ASSIGN_OR_RETURN(IdxArray lb, ReadIdx(lp));
  if (im.dims.size() != 3 || im.dims[1] != 28 || im.dims[2] != 28) {
    return BadInput(ip + ": expected N x 28 x 28 images");
  }
  if (lb.dims.size() != 1 || lb.dims[0] != im.dims[0]) {
    return BadInput(lp + ": expected " + std::to_string(im.dims[0]) +
                    " labels, one per image of " + ip);
  }
  ImageDataset d;
  d.n = im.dims[0];
  d.height = 28;
  d.width = 28;
  d.images.resize(im.data.size());
  for (size_t i = 0; i < im.data.size(); ++i) {
    d.images[i] = static_cast<float>(im.data[i]) / 255.0f;
  }
  d.labels.resize(lb.data.size());
  for (size_t i = 0; i < lb.data.size(); ++i) {
    if (lb.data[i] >= d.classes) {
      return BadInput(lp + ": label " + std::to_string(lb.data[i]) +
                      " of image " + std::to_string(i) + " is past 9");
    }
    d.labels[i] = lb.data[i];
  }
  return d;
}

}  // namespace lowbit
