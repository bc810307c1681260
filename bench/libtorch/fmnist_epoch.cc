// The speed reference of issue 15: the Fashion-MNIST CNN of `lowbit train
// --arch fmnist-cnn` written in LibTorch 1.13 (Debian's libtorch-dev), trained
// the same way (batch 64, SGD with momentum 0.9, lr 0.05 cosine per step,
// PyTorch's default initialisation, the input normalised by the training
// images' mean and standard deviation), timed per epoch. Built and run by
// scripts/epoch_speed_bench.sh beside `lowbit train`; not part of the build.
//
//   fmnist_epoch [--epochs N] [--threads T] [--batch B] [--lr X] [--seed S]
//                [--data DIR] [--mkldnn 0|1]
// prints one JSON object: each epoch's seconds and loss, the test accuracy.
#include <torch/torch.h>
#include <zlib.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

std::vector<unsigned char> ReadGz(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) throw std::runtime_error(path + ": cannot open");
  std::vector<unsigned char> out;
  unsigned char buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0)
    out.insert(out.end(), buf, buf + n);
  gzclose(f);
  return out;
}

uint32_t Be32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) |
         (uint32_t{p[2]} << 8) | p[3];
}

// Images [N, 1, 28, 28] as pixel / 255, labels [N] int64.
std::pair<torch::Tensor, torch::Tensor> Load(const std::string& dir,
                                             const std::string& stem) {
  const auto im = ReadGz(dir + "/" + stem + "-images-idx3-ubyte.gz");
  const auto lb = ReadGz(dir + "/" + stem + "-labels-idx1-ubyte.gz");
  if (im.size() < 16 || lb.size() < 8) throw std::runtime_error("short file");
  const int64_t n = Be32(&im[4]);
  if (static_cast<int64_t>(im.size()) != 16 + n * 784 ||
      static_cast<int64_t>(lb.size()) != 8 + n) {
    throw std::runtime_error(stem + ": sizes do not agree");
  }
  torch::Tensor x = torch::empty({n, 1, 28, 28});
  float* xp = x.data_ptr<float>();
  for (int64_t i = 0; i < n * 784; ++i) xp[i] = im[16 + i] / 255.0f;
  torch::Tensor y = torch::empty({n}, torch::kLong);
  int64_t* yp = y.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) yp[i] = lb[8 + i];
  return {x, y};
}

struct Net : torch::nn::Module {
  torch::nn::Conv2d conv1{torch::nn::Conv2dOptions(1, 32, 3)};
  torch::nn::Conv2d conv2{torch::nn::Conv2dOptions(32, 64, 3)};
  torch::nn::Linear fc1{1600, 128}, fc2{128, 10};
  Net() {
    register_module("conv1", conv1);
    register_module("conv2", conv2);
    register_module("fc1", fc1);
    register_module("fc2", fc2);
  }
  torch::Tensor forward(torch::Tensor x) {
    x = (x - 0.2860f) * (1.0f / 0.3530f);
    x = torch::max_pool2d(torch::relu(conv1(x)), 2);
    x = torch::max_pool2d(torch::relu(conv2(x)), 2);
    x = torch::relu(fc1(x.flatten(1)));
    return fc2(x);
  }
};

}  // namespace

int main(int argc, char** argv) {
  int epochs = 1, threads = 2, mkldnn = 1;
  int64_t batch = 64, seed = 1;
  double lr = 0.05;
  std::string data = "/usr/share/datasets/fashion-mnist";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--epochs")
      epochs = std::atoi(v.c_str());
    else if (a == "--threads")
      threads = std::atoi(v.c_str());
    else if (a == "--batch")
      batch = std::atoll(v.c_str());
    else if (a == "--lr")
      lr = std::atof(v.c_str());
    else if (a == "--seed")
      seed = std::atoll(v.c_str());
    else if (a == "--data")
      data = v;
    else if (a == "--mkldnn")
      mkldnn = std::atoi(v.c_str());
    else {
      std::fprintf(stderr, "fmnist_epoch: unknown option %s\n", a.c_str());
      return 2;
    }
  }
  torch::set_num_threads(threads);
  at::globalContext().setUserEnabledMkldnn(mkldnn != 0);
  torch::manual_seed(seed);
  auto [xtr, ytr] = Load(data, "train");
  auto [xte, yte] = Load(data, "t10k");
  auto net = std::make_shared<Net>();
  torch::optim::SGD opt(net->parameters(),
                        torch::optim::SGDOptions(lr).momentum(0.9));
  const int64_t n = xtr.size(0);
  const int64_t per_epoch = (n + batch - 1) / batch, total = per_epoch * epochs;
  int64_t step = 0;
  std::string epochs_json;
  for (int e = 0; e < epochs; ++e) {
    const auto t0 = std::chrono::steady_clock::now();
    torch::Tensor perm = torch::randperm(n, torch::kLong);
    double loss_sum = 0.0;
    net->train();
    for (int64_t b0 = 0; b0 < n; b0 += batch, ++step) {
      const int64_t b1 = std::min(n, b0 + batch);
      torch::Tensor idx = perm.slice(0, b0, b1);
      torch::Tensor x = xtr.index_select(0, idx), y = ytr.index_select(0, idx);
      const double r = 0.5 * lr * (1.0 + std::cos(M_PI * step / total));
      for (auto& g : opt.param_groups()) {
        static_cast<torch::optim::SGDOptions&>(g.options()).lr(r);
      }
      opt.zero_grad();
      torch::Tensor loss = torch::cross_entropy_loss(net->forward(x), y);
      loss.backward();
      opt.step();
      loss_sum += loss.item<double>();
    }
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
            .count();
    char buf[160];
    std::snprintf(buf, sizeof buf,
                  "%s{\"epoch\": %d, \"seconds\": %.4f, \"loss\": %.6f}",
                  e ? ", " : "", e + 1, s, loss_sum / per_epoch);
    epochs_json += buf;
  }
  torch::NoGradGuard ng;
  net->eval();
  const int64_t correct =
      net->forward(xte).argmax(1).eq(yte).sum().item<int64_t>();
  std::printf(
      "{\"reference\": \"LibTorch %s\", \"threads\": %d, \"batch\": %lld, "
      "\"epochs\": [%s], \"test_accuracy\": %.4f}\n",
      TORCH_VERSION, threads, static_cast<long long>(batch),
      epochs_json.c_str(), static_cast<double>(correct) / xte.size(0));
  return 0;
}
