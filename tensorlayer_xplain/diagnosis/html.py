"""The diagnosis' report sections: one HTML fragment per part, tables and figures embedded."""
import base64
import html
import tempfile

__all__ = ["diagnosis_sections", "PARTS"]

#: (part, title, explanation shown under the title)
PARTS = (
    ("errors", "Diagnosis: errors", "Misclassified inputs, most confident first; each drawn for the predicted "
     "class P and the true class T, and the signed map \"P rather than T\"."),
    ("confusions", "Diagnosis: confusion pairs", "The (true -> predicted) pairs behind the errors."),
    ("profiles", "Diagnosis: per-class attribution profiles", "Mean normalized map per true class, for correct "
     "and wrong predictions, and where they differ."),
    ("reliance", "Diagnosis: reliance on regions", "Share of attribution mass outside the object per predicted "
     "class, and the counterfactual check (the suspected region outside the object replaced): flip rate and drop "
     "of the predicted class's probability."),
    ("sensitivity", "Diagnosis: sensitivity probes", "Per true class: how often the prediction changes under "
     "simple shifts, and the change of the true class's probability."),
)


def _figure_uri(path):
    with open(path, "rb") as f:
        return "data:image/png;base64," + base64.b64encode(f.read()).decode("ascii")


def _table(frame, rows=None):
    frame = frame if rows is None else frame.head(rows)
    return frame.to_html(index=False, classes="diagnosis", float_format=lambda v: "%.3f" % v, border=0)


def _tables(diagnosis):
    reliance = diagnosis.reliance
    return {
        "errors": _table(diagnosis.errors, 20),
        "confusions": _table(diagnosis.confusions, 15),
        "profiles": "",
        "reliance": "<p>Object regions: %s; flagged when the outside share exceeds the median over classes by more "
                    "than %.2f and the flip rate reaches %.2f. Flagged: <b>%s</b>.</p>%s"
                    % (html.escape(diagnosis.region_source), diagnosis.thresholds["reliance_threshold"],
                       diagnosis.thresholds["flip_threshold"],
                       html.escape(", ".join(reliance.loc[reliance["flagged"], "name"]) or "none"), _table(reliance)),
        "sensitivity": _table(diagnosis.sensitivity.pivot(index="name", columns="probe", values="flip_rate")
                              .reset_index().rename(columns={"name": "class"})),
    }


def diagnosis_sections(diagnosis):
    """``[(title, html), ...]``: one section per part, its figure embedded as a PNG and its table.

    Parameters
    ----------
    diagnosis : Diagnosis

    Returns
    -------
    list of (str, str)
    """
    tables = _tables(diagnosis)
    with tempfile.TemporaryDirectory(prefix="tlxp-diagnosis-") as folder:
        paths = diagnosis.save_figures(folder, format="png")
        sections = []
        for part, title, text in PARTS:
            body = ("<div class='diagnosis-part' id='diagnosis-%s'><p>%s</p><img alt='%s' src='%s' "
                    "style='max-width:100%%'>%s</div>"
                    % (part, html.escape(text), html.escape(part), _figure_uri(paths[part]), tables[part]))
            sections.append((title, body))
    return sections
