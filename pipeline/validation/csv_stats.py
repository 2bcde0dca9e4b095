"""TFDV statistics of a span folder's CSV files computed outside the pipeline, as StatisticsGen would."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

from pipeline.validation.shift import stats_options


def _empty_cells_as_empty_lists(batch: Any) -> Any:
    """Turns null cells into empty lists, as CsvExampleGen writes an empty CSV cell into a tf.Example.

    TFDV's own CSV reader reports an empty cell as a missing value, so without this its statistics
    would disagree with the pipeline's on presence and value counts. A column with no value at all
    has no type and stays missing, as in the pipeline.
    """
    import pyarrow as pa

    columns = []
    for column in batch.columns:
        if column.null_count and not pa.types.is_null(column.type):
            column = pa.array([[] if cell is None else cell for cell in column.to_pylist()], type=column.type)
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, schema=batch.schema)


def csv_statistics(
    folder: str | Path, schema: schema_pb2.Schema, beam_args: Sequence[str] = ()
) -> statistics_pb2.DatasetFeatureStatisticsList:
    """Computes TFDV statistics of every row of a span folder's CSV files, outside the pipeline.

    Types are inferred from the data and empty cells count as features with no value, as in the
    Examples CsvExampleGen writes; the schema marks which integers are categories, as StatisticsGen's
    schema input does.

    Args:
        folder: the `span-<N>` folder; its CSV files must share one header.
        schema: the curated schema.
        beam_args: Beam options (the profile's beam_args).

    Returns:
        The statistics (one dataset holding all rows).
    """
    import csv
    import tempfile

    import apache_beam as beam
    import tensorflow_data_validation as tfdv
    from apache_beam.options.pipeline_options import PipelineOptions
    from tensorflow_data_validation.coders import csv_decoder

    files = sorted(Path(folder).glob("*.csv"))
    with files[0].open(newline="") as handle:
        header = next(csv.reader(handle))
    options = stats_options(schema)
    with tempfile.TemporaryDirectory(prefix="taxi-stats-") as scratch:
        output = str(Path(scratch) / "stats.tfrecord")
        with beam.Pipeline(options=PipelineOptions(list(beam_args))) as pipeline:
            _ = (
                pipeline
                | "Read" >> beam.io.ReadFromText(str(Path(folder) / "*.csv"), skip_header_lines=1)
                | "Decode" >> csv_decoder.DecodeCSV(column_names=header)
                | "LikeExampleGen" >> beam.Map(_empty_cells_as_empty_lists)
                | "Statistics" >> tfdv.GenerateStatistics(options)
                | "Write" >> tfdv.WriteStatisticsToTFRecord(output)
            )
        statistics: statistics_pb2.DatasetFeatureStatisticsList = tfdv.load_statistics(output)
    return statistics
