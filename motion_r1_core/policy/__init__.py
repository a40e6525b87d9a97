"""The motion-aware LLM policy: motion vocabulary, answer grammar, backbones, SFT, constrained
generation and the scores SFT is judged by. One idea per module:

    vocabulary.py   <motion_id_k> tokens + tags; the one token id <-> VQ code mapping
    grammar.py      the prompt and the answer format: build SFT targets, parse completions
    backbone.py     the causal LM a policy starts from (config, SmolLM2 GGUF, any HF folder)
    data.py         SFT examples from either chain source, and TRL's conversational rows
    sft.py          TRL SFTTrainer (full or LoRA), checkpoints and resume, logging
    policy.py       a trained policy folder (model + tokenizer + policy.json)
    constraint.py   the grammar as a logits processor
    generate.py     batched sampling (grammar, length control), parsed per row
    evaluate.py     format validity, the T2M protocol on generated motions, length error
"""
