"""Custom TFX components of the taxi pipeline: the drift check and the data gate in front of Transform."""

from pipeline.components.data_gate import DataGate, DataGateError
from pipeline.components.drift_check import DriftCheck, DriftReport

__all__ = ["DataGate", "DataGateError", "DriftCheck", "DriftReport"]
