"""dair-ai emotion: label counts."""

from emotune.data.registry import load_dataset
from tests.data.corpora import label_counts, needs_data

pytestmark = needs_data


def test_dair_counts():
    c = label_counts(load_dataset("dair-emotion"), "train")
    assert c == {"joy": 5362, "sadness": 4666, "anger": 2159, "fear": 1937, "love": 1304, "surprise": 572}
