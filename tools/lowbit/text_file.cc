// WriteTextFile (commands.h): reports and other text outputs, through a
// temporary file and a rename like every output of the command.
#include "core/mapped_file.h"
#include "tools/lowbit/commands.h"

namespace lowbit::cli {

Status WriteTextFile(const std::string& path, const std::string& text) {
  LB_ASSIGN_OR_RETURN(auto out, OutputFile::Create(path));
  LB_RETURN_IF_ERROR(out->Write(text.data(), text.size()));
  return out->Commit();
}

}  // namespace lowbit::cli
