// `tenor export --run RUN --out BUNDLE` and `tenor export verify BUNDLE`: thin wrappers of
// export_bundle / verify_bundle (export/bundle.h).
#include <iostream>

#include "cli/commands.h"
#include "core/error.h"
#include "core/log.h"
#include "core/text.h"
#include "export/bundle.h"

namespace tenor::cli {

void add_export_command(CLI::App& app) {
  auto o = std::make_shared<onnx_export::ExportOptions>();
  auto* cmd = app.add_subcommand(
      "export", "Export a trained run to an ONNX bundle, gated by ONNX Runtime parity");
  cmd->add_option("--run", o->run, "run directory of `tenor train`");
  cmd->add_option("--out", o->out, "bundle directory to write");
  cmd->add_option("--parity-data", o->parity_data,
                  "feature store whose dev split the parity gate runs on (default: the run's)");
  cmd->add_option("--checkpoint", o->checkpoint, "checkpoint of the run")->capture_default_str();
  // Unset unless given: the gate's defaults depend on --quantize (onnx_export::gate_of).
  cmd->add_option("--tolerance", o->parity.tolerance,
                  "max |p_onnx - p_torch| the gate accepts (default " +
                      format_number(onnx_export::kParityTolerance) + "; " +
                      format_number(onnx_export::kInt8ParityTolerance) + " with --quantize int8)");
  cmd->add_option(
      "--min-agreement", o->parity.min_agreement,
      "share of each task's decisions, over every gate case, that must be the same (default 1: "
          "every one, in every case; " +
          format_number(onnx_export::kInt8MinAgreement) + " with --quantize int8)");
  cmd->add_option("--quantize", o->quantize,
                  "int8: the pretrained text encoder's Linear layers as dynamically quantised "
                  "int8 MatMuls (about twice as fast on CPU; gated at --tolerance and "
                  "--min-agreement); none: fp32 (the default)");
  cmd->add_flag("--force", o->force,
                "replace an existing bundle (only a tenor bundle holding nothing else; never the "
                "run or its store)");
  cmd->footer("Needs ONNX Runtime for the gate: npm --prefix tools/ort install --ignore-scripts");
  cmd->require_subcommand(0, 1);

  auto bundle = std::make_shared<std::string>();
  auto* verify = cmd->add_subcommand(
      "verify", "Re-check a bundle's checksums, ONNX model and parity fixtures");
  verify->add_option("bundle", *bundle, "bundle directory")->required();
  verify->callback([bundle] {
    auto report = onnx_export::verify_bundle(*bundle);
    logger("export")->info("{}: {} files match manifest.json; {}", *bundle,
                           report["files"].get<size_t>(),
                           onnx_export::parity_summary(report["parity"]));
  });

  cmd->callback([verify, o] {
    if (verify->parsed()) return;
    if (o->run.empty() || o->out.empty())
      throw UsageError("tenor export needs --run RUN and --out BUNDLE (or `export verify BUNDLE`)");
    onnx_export::export_bundle(*o);
  });
}

}  // namespace tenor::cli
