"""EmpatheticDialogues situations: label order and the aug_text option."""

from emotune.data.registry import load_dataset
from tests.data.corpora import label_counts, needs_data

pytestmark = needs_data


def test_empathetic_labels_and_aug_text():
    ds = load_dataset("empathetic-situations")
    assert len(ds.label_set) == 32 and ds.label_set.names[:3] == ("sad", "trusting", "terrified")
    c = label_counts(ds, "train")
    assert c["surprised"] == 922 and c["faithful"] == 325
    aug = load_dataset("empathetic-situations", use_aug_text=True)
    assert len(aug) == 2 * len(ds) and aug.frame["augmented"].sum() == len(ds)
