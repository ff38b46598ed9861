"""TensorBoard's own reading of tenor's event files, for tests (see tensorboard_read.sh).

  scalars LOGDIR  ->  {"scalars": {tag: [[step, value], ...]}, "texts": {tag: [[step, text]]},
                       "tensorboard": version} on stdout, every point kept, in step order.
  vectors         ->  the bytes TensorBoard's writer and protobuf give for the cases of
                      tests/train/tensorboard_test.cpp, as hex (how its constants were made).
"""
import json
import sys


def scalars(logdir):
    from tensorboard.backend.event_processing import event_accumulator as ea
    from tensorboard.util import tensor_util
    import tensorboard

    acc = ea.EventAccumulator(logdir, size_guidance={ea.SCALARS: 0, ea.TENSORS: 0})
    acc.Reload()
    tags = acc.Tags()
    out = {"scalars": {}, "texts": {}, "tensorboard": tensorboard.__version__}
    for tag in tags["scalars"]:
        out["scalars"][tag] = [[e.step, e.value] for e in acc.Scalars(tag)]
    for tag in tags["tensors"]:
        meta = acc.SummaryMetadata(tag)
        if meta.plugin_data.plugin_name != "text":
            continue
        out["texts"][tag] = [
            [e.step, tensor_util.make_ndarray(e.tensor_proto).item().decode("utf-8")]
            for e in acc.Tensors(tag)
        ]
    json.dump(out, sys.stdout)


def vectors():
    import io
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.plugins.text import metadata as text_metadata
    from tensorboard.summary.writer.record_writer import RecordWriter
    from tensorboard.util import tensor_util

    def record(data):
        buf = io.BytesIO()
        RecordWriter(buf).write(data)
        return buf.getvalue().hex()

    out = {"record_empty": record(b""), "record_hello": record(b"hello")}
    scalar = event_pb2.Event(wall_time=1.5, step=7)
    scalar.summary.value.add(tag="train/loss", simple_value=0.25)
    out["scalar"] = scalar.SerializeToString().hex()
    text = event_pb2.Event(wall_time=1.5)
    meta = text_metadata.create_summary_metadata(display_name=None, description=None)
    meta.data_class = summary_pb2.DATA_CLASS_TENSOR
    text.summary.value.add(tag="config", metadata=meta,
                           tensor=tensor_util.make_tensor_proto("a: 1"))
    out["text"] = text.SerializeToString().hex()
    out["file_version"] = event_pb2.Event(wall_time=1.5, file_version="brain.Event:2") \
        .SerializeToString().hex()
    start = event_pb2.Event(wall_time=1.5, step=3)
    start.session_log.status = event_pb2.SessionLog.START
    out["session_start"] = start.SerializeToString().hex()
    json.dump(out, sys.stdout, indent=1)


if __name__ == "__main__":
    if sys.argv[1] == "scalars":
        scalars(sys.argv[2])
    elif sys.argv[1] == "vectors":
        vectors()
    else:
        sys.exit("usage: tensorboard_read.py scalars LOGDIR | vectors")
