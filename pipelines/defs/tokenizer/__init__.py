"""The `tokenizer` group: the VQ-VAE motion tokenizer and the token dataset it writes."""
