"""The peers ``triage quality`` can measure, by name.

Apart from ``training.peers`` because the ``triage`` command line needs the names for its help
at import, and every ``triage serve`` worker imports that command line: the peers themselves
import scikit-learn, which a worker that only serves must not hold (about 146 MB resident).
"""

PEER_NAMES = ("tfidf", "minilm", "vader")
