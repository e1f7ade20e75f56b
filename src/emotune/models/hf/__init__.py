"""Shared transformers glue for the backends that fine-tune or run a Hugging Face model.

One concern per module; nothing here knows which backend is calling:

* :mod:`.resources` - quiet loading, parameter counts, memory checks, the model's device
* :mod:`.data`      - tokenised datasets, padding collator, model-ready targets, dialogue truncation
* :mod:`.loss`      - the task's loss and class weights (the only copies)
* :mod:`.args`      - ``TrainingConfig`` -> ``TrainingArguments``, the dev metric that picks the best epoch
* :mod:`.checkpoints` - where checkpoints go, which one to resume, cleaning them up
* :mod:`.trainer`   - ONE ``transformers.Trainer`` subclass and :func:`run_trainer`, used by every torch backend
* :mod:`.sequence`  - prediction and ``fit`` inputs of ``AutoModelForSequenceClassification`` backends

Device, precision and threads live in :mod:`emotune.runtime`.
"""
