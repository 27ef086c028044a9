"""Precision variants of a model (``:prepare``): the conversion kernels (``kernels``), which tensors each
precision converts (``precisions``), the streaming conversion of a safetensors checkpoint
(``convert``), and the job that prepares a stored model (``jobs``)."""
