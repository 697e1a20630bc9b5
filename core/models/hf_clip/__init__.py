"""The CLIP family through transformers (``model_type`` ``"clip"``): OpenAI CLIP and its kin.

Only this family imports transformers, and only when a CLIP checkpoint is loaded; the native
jina-clip path never does. Images still go through clipbridge's own loader with the checkpoint's
``preprocessor_config.json`` settings; texts are cut to the model's own limit (77 for CLIP).
"""
