"""The model card written beside every bundle."""

from __future__ import annotations

from typing import Any

from training.evaluate import markdown_table
from training.public_data import LICENCES, MAPPING_VERSION

SEED_LICENCE = "seed tickets written by the ticket-triage team for this project (same licence as the project)"


def render_card(metadata: dict[str, Any]) -> str:
    recipe = metadata["recipe"]
    rows = metadata["rows"]
    primary = metadata.get("primary_description", "user-supplied labelled tickets")
    if "seed set" in primary:
        primary += f"; {SEED_LICENCE}"
    sources = [f"- primary data: {primary}"]
    sources += [
        f"- {LICENCES.get(src, src)}: {n} rows" for src, n in sorted(rows["auxiliary_by_source"].items())
    ]
    nh = metadata["metrics"]["held_out"]["overall"].get("needs_human", {})
    if recipe["target_share"] is not None:
        target = (
            f"flag {recipe['target_share']:.0%} of tickets (out-of-fold scores of the primary training rows"
        )
        if recipe.get("assumed_prevalence") is not None:
            target += (
                f", classes reweighted to an assumed traffic prevalence of {recipe['assumed_prevalence']:.0%}"
            )
        target += ")"
    else:
        target = f"reach {recipe['target_recall']:.0%} recall of needs_human (out-of-fold scores)"
    if recipe.get("public_heads"):
        heads = (
            "each head the primary data labels mixes two L2 logistic regressions "
            f"(C={recipe['C']}): one on the primary rows alone, its features scaled by their "
            f"naive-Bayes log-count ratio (strength {recipe['nb_scale']}), and one on the public rows "
            "alone; the mix is a logistic regression on the primary rows' out-of-fold logits "
            f"({metadata.get('head_mixing')}). A head the primary data leaves blank is the public "
            "head alone. Platt-calibrated on out-of-fold logits; "
        )
        weighting = "public rows train heads of their own (each source weighing the same" + (
            ", with an offset of its own)."
            if recipe.get("source_offsets") and len(rows["auxiliary_by_source"]) > 1
            else ")."
        )
    else:
        scaled = (
            f", its features scaled by their naive-Bayes log-count ratio (strength {recipe['nb_scale']})"
            if recipe.get("nb_scale")
            else ""
        )
        offsets = (
            ", each public source with an offset of its own that is fitted and then dropped (the sets "
            "label at rates of their own)"
            if recipe.get("source_offsets") and rows["auxiliary_by_source"]
            else ""
        )
        heads = (
            f"one L2 logistic regression per dimension (C={recipe['C']}){scaled}{offsets}, "
            "Platt-calibrated on 5-fold out-of-fold logits; "
        )
        weighting = (
            f"each public source weighs {recipe['public_weight']} times the primary training rows in all."
        )
    return "\n".join(
        [
            f"# Model card: {metadata['name']} {metadata['version']}",
            "",
            "## Intended use",
            "Scores incoming customer-support tickets in English and Dutch for whether a person should "
            "answer them: `emotional`, `complex`, `nuanced`, and `needs_human` (their stacked "
            "combination). A ticket at or above the needs_human threshold goes to a human agent with "
            "the phrases that drove the score. It supports agents; it does not decide anything about "
            "a customer on its own, and it is not a sentiment or risk score for any other purpose.",
            "",
            "## Model",
            f"Hashed word 1-2-grams and character 3-5-grams (2^{recipe['bits']} buckets, tf-idf), "
            + heads
            + "needs_human is a logistic regression on four out-of-fold logits (the "
            "three dimensions and a head trained on needs_human directly), folded into the same linear "
            "weights. Reasons are each token's exact share of the logit. "
            f"Threshold {metadata['thresholds']['needs_human']:.4f}, chosen to {target}. "
            f"Seed {recipe['seed']}; trained with Python {metadata['python']}, scikit-learn "
            f"{metadata['scikit_learn']} in {metadata['training_seconds']} s.",
            "",
            "## Data",
            *sources,
            f"- public label mappings: `{MAPPING_VERSION}` (`training/public_data.py`); public rows "
            "carry only the labels their source supports and train only those heads; " + weighting,
            "- never trained on: the airline tweets (CC BY-NC-SA, evaluation only), the XED nl "
            "evaluation split and a 30% CFPB evaluation split (both `sha256(text) % 10 < 3`), "
            "and the held-out split of the primary data.",
            "",
            f"Primary rows: {rows['primary']} ({rows['primary_by_language']}), of which "
            f"{rows['held_out']} held out for the figures below. Domains: {rows['primary_by_domain']}.",
            "",
            "## Held-out metrics",
            f"On the held-out split of the primary data (never trained on). needs_human ROC-AUC "
            f"{nh.get('roc_auc')}, precision {nh.get('precision')} and recall {nh.get('recall')} at "
            f"the threshold, flagging {nh.get('flagged_share')} of held-out tickets.",
            "",
            markdown_table(metadata["metrics"]["held_out"]),
            "",
            f"Cross-validated ROC-AUC (out-of-fold, primary training rows): {metadata['metrics']['cross_validation']}",
            "",
            "## Known limits",
            "- The seed set was written by the team, not sampled from real traffic, and holds far more "
            "hard cases than traffic does. Where the threshold assumes a traffic prevalence (see Model), "
            "the human share on live traffic matches the target only if that assumption holds: watch "
            "the live human share and retrain on your own labelled history (`triage train --data ...`).",
            "- The public sets are subtitles, Reddit comments and U.S. financial complaints, not "
            "tickets; they teach vocabulary of emotion and financial stakes, not ticket structure.",
            "- Dutch rests on the seed set and projected (not native) XED labels; other languages are "
            "refused by language detection and sent to a human, never scored.",
            "- A bag of n-grams misses long-range meaning: sarcasm and negation are only partly caught. "
            "Routing rules (legal threats, bereavement, self-harm, repeat contact) back the model up.",
            "",
        ]
    )
