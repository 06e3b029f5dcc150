"""Safe model files (safetensors + JSON): never pickle, never eval."""

from .model_file import (
    MODEL_FILENAME,
    build,
    describe,
    load,
    load_state_dict,
    load_with_metadata,
    save,
    save_state_dict,
)

__all__ = ["save", "load", "load_with_metadata", "save_state_dict", "load_state_dict",
           "describe", "build", "MODEL_FILENAME"]
