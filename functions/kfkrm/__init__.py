"""kfkrm: KRM functions that adapt upstream Kubeflow to an enterprise platform."""

__version__ = "0.1.0"
