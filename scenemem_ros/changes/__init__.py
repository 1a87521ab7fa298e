"""Change detection against the memory: depth frames in, override updates out."""

from scenemem_ros.changes.base import BaseGeometry
from scenemem_ros.changes.classify import ChangeLabel
from scenemem_ros.changes.config import ChangeDetectorConfig
from scenemem_ros.changes.detector import (
    ChangeDetector,
    FrameReport,
    OverrideUpdate,
    Track,
    UpdateAction,
)
from scenemem_ros.changes.errors import ChangeDetectionError
from scenemem_ros.changes.evidence import FrameEvidence, compare_frame
from scenemem_ros.changes.pose_buffer import PoseBuffer, PoseBufferConfig, PoseLookup

__all__ = ['BaseGeometry', 'ChangeDetectionError', 'ChangeDetector', 'ChangeDetectorConfig',
           'ChangeLabel', 'FrameEvidence', 'FrameReport', 'OverrideUpdate', 'PoseBuffer',
           'PoseBufferConfig', 'PoseLookup', 'Track', 'UpdateAction', 'compare_frame']
