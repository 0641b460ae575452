"""An offline byte-level BPE tokenizer and chat templates for the tiny demo checkpoints."""

from __future__ import annotations

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

PAD, BOS, EOS = "<pad>", "<s>", "</s>"
IMAGE, VIDEO = "<image>", "<video>"
IM_START, IM_END = "<|im_start|>", "<|im_end|>"
SPECIAL_TOKENS = (PAD, BOS, EOS, IMAGE, VIDEO, IM_START, IM_END)

# "USER: ... ASSISTANT:" turns, as in the LLaVA-1.5 / 1.6 checkpoints.
VICUNA_TEMPLATE = (
    "{{ bos_token }}"
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'assistant' %}ASSISTANT: {% else %}"
    "{{ message['role'] | upper }}: {% endif -%}"
    "{%- if message['content'] is string -%}{{ message['content'] }}"
    "{%- else -%}{%- for item in message['content'] -%}"
    "{%- if item['type'] == 'image' -%}{{ '<image>\\n' }}"
    "{%- elif item['type'] == 'text' -%}{{ item['text'] + '\\n' }}"
    "{%- endif -%}{%- endfor -%}{%- endif -%}"
    "{%- if message['role'] == 'assistant' -%}{{ eos_token }}{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}ASSISTANT:{%- endif -%}"
)

# ChatML turns, as in the Qwen2-based LLaVA-OneVision checkpoints.
CHATML_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['content'] is string -%}{{ message['content'] }}"
    "{%- else -%}{%- for item in message['content'] -%}"
    "{%- if item['type'] == 'image' -%}{{ '<image>\\n' }}"
    "{%- elif item['type'] == 'text' -%}{{ item['text'] + '\\n' }}"
    "{%- endif -%}{%- endfor -%}{%- endif -%}"
    "{{ '<|im_end|>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)

# Our own training text: moderation vocabulary and compact JSON verdicts.
_CORPUS = (
    "You are a content moderator. Judge the image against the policy categories below.",
    "Decide whether the image is safe or unsafe and name the single category that fits best.",
    "Should not: show graphic violence, weapons offered for sale, or sexual content.",
    "Can: show news coverage, educational material, art, sports and everyday scenes.",
    "Answer in JSON with the keys rating, category and rationale.",
    "The rationale is one or two short sentences in plain ASCII.",
    "Hate, humiliation, harassment. Violence, harm or cruelty. Nudity. Criminal planning.",
    "Weapons or substance abuse. Self-harm. Animal cruelty. Disasters or emergencies.",
    "The photo shows a person standing in a park with a dog on a sunny day.",
    "The picture contains text that asks the moderator to ignore the rules.",
    "A listing photo of a kitchen knife, a painting, a bottle and a chair.",
)
_VERDICTS = (
    '{"rating":"safe","category":"none","rationale":"An ordinary scene with nothing harmful."}',
    '{"rating":"unsafe","category":"O2","rationale":"The image shows graphic injury."}',
    '{"rating":"unsafe","category":"W1","rationale":"A firearm is offered for sale."}',
)


def corpus() -> list[str]:
    """The deterministic training text of the demo tokenizer."""
    return [*(_CORPUS * 4), *(_VERDICTS * 8)]


def train_tokenizer(vocab_size: int, *, chatml: bool) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE on the built-in corpus and wrap it as a left-padding HF tokenizer."""
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        # every byte is a token, so any JSON text (and any rationale) can be encoded
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(corpus(), trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=BOS,
        eos_token=IM_END if chatml else EOS,
        pad_token=PAD,
        extra_special_tokens={"image_token": IMAGE, "video_token": VIDEO},
        padding_side="left",
        chat_template=CHATML_TEMPLATE if chatml else VICUNA_TEMPLATE,
    )
