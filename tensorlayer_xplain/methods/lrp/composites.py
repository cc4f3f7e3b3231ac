"""Composites: which LRP rule each layer gets, by layer type and position, with per-layer overrides.

A composite maps the layers with weights to rules: ``'first'`` (the first such layer the input
reaches), then ``'dense'``, ``'conv'`` and ``'depthwise'`` layers. The presets follow zennit's
``composites.py`` (``EpsilonPlus``, ``EpsilonPlusFlat``, ``EpsilonAlpha2Beta1``,
``EpsilonAlpha2Beta1Flat``; ``EpsilonPlusBox`` with the z^B rule for the first layer) and
iNNvestigate's sequential presets (``LRPSequentialPresetA``: epsilon = 0.1 for dense layers, alpha1-beta0
for convolutions; ``LRPSequentialPresetB``: alpha2-beta1 for convolutions).
"""
from .rules import RULES, check_rule_params

__all__ = ["COMPOSITES", "rule_plan"]

#: Composite name -> {slot: rule or (rule, params)}; slots 'first', 'dense', 'conv', 'depthwise'.
COMPOSITES = {
    "epsilon_plus": {"dense": "epsilon", "conv": "zplus", "depthwise": "zplus"},
    "epsilon_plus_flat": {"first": "flat", "dense": "epsilon", "conv": "zplus", "depthwise": "zplus"},
    "epsilon_plus_box": {"first": "zbox", "dense": "epsilon", "conv": "zplus", "depthwise": "zplus"},
    "epsilon_alpha2_beta1": {"dense": "epsilon", "conv": ("alpha_beta", {"alpha": 2.0, "beta": 1.0}),
                             "depthwise": ("alpha_beta", {"alpha": 2.0, "beta": 1.0})},
    "epsilon_alpha2_beta1_flat": {"first": "flat", "dense": "epsilon",
                                  "conv": ("alpha_beta", {"alpha": 2.0, "beta": 1.0}),
                                  "depthwise": ("alpha_beta", {"alpha": 2.0, "beta": 1.0})},
    "sequential_preset_a": {"dense": ("epsilon", {"epsilon": 0.1}),
                            "conv": ("alpha_beta", {"alpha": 1.0, "beta": 0.0}),
                            "depthwise": ("alpha_beta", {"alpha": 1.0, "beta": 0.0})},
    "sequential_preset_b": {"dense": ("epsilon", {"epsilon": 0.1}),
                            "conv": ("alpha_beta", {"alpha": 2.0, "beta": 1.0}),
                            "depthwise": ("alpha_beta", {"alpha": 2.0, "beta": 1.0})},
}


def _entry(where, value, params):
    """``(rule, params tuple)`` from ``'rule'`` or ``('rule', {...})``; explicit params win over the method's."""
    if isinstance(value, str):
        rule, own = value, {}
    elif isinstance(value, (tuple, list)) and len(value) == 2 and isinstance(value[0], str) \
            and isinstance(value[1], dict):
        rule, own = value
    else:
        raise TypeError("%s: expected a rule name or (rule name, {parameters}), got %r" % (where, value))
    if rule not in RULES:
        raise ValueError("%s: expected a rule among %s, got %r" % (where, ", ".join(RULES), rule))
    return rule, check_rule_params(rule, {**params, **own})


def rule_plan(layers, rule, params, overrides=None):
    """Rule and parameters of every layer with weights.

    Parameters
    ----------
    layers : list of (str, str, str)
        ``(layer name, class name, family)`` of the layers with weights, in call order (family
        ``'dense'``, ``'conv'`` or ``'depthwise'``).
    rule : str
        A rule of :data:`~.rules.RULES` for every layer, or a composite of :data:`COMPOSITES`.
    params : dict
        The method's rule parameters (``epsilon``, ``alpha``, ``beta``, ``low``, ``high``), used
        where a composite gives none.
    overrides : dict, optional
        ``{key: rule or (rule, {params})}`` where ``key`` is a layer name, ``'first'``, a class name
        (``'Conv2d'``) or a family (``'dense'``, ``'conv'``, ``'depthwise'``); a layer name wins over
        ``'first'``, which wins over a class name, which wins over a family.

    Returns
    -------
    tuple of (str, str, tuple)
        ``(layer name, rule, params)`` per layer (hashable: it keys the compiled step).

    Examples
    --------
    >>> rule_plan([('c1', 'Conv2d', 'conv'), ('d1', 'Dense', 'dense')], 'epsilon_plus_flat', {'epsilon': 0.1})
    (('c1', 'flat', ()), ('d1', 'epsilon', (('epsilon', 0.1),)))
    >>> rule_plan([('c1', 'Conv2d', 'conv')], 'epsilon', {}, overrides={'conv': 'zplus'})
    (('c1', 'zplus', ()),)
    """
    if not isinstance(rule, str):
        raise TypeError("rule: expected a rule or composite name (str), got %r" % (rule,))
    if rule in COMPOSITES:
        composite = COMPOSITES[rule]
    elif rule in RULES:
        composite = {"dense": rule, "conv": rule, "depthwise": rule}
    else:
        raise ValueError("rule: expected a rule (%s) or a composite (%s), got %r"
                         % (", ".join(RULES), ", ".join(COMPOSITES), rule))
    overrides = {} if overrides is None else overrides
    if not isinstance(overrides, dict):
        raise TypeError("overrides: expected a dict {layer name, class name or family: rule}, got %r" % (overrides,))
    names = {name for name, _, _ in layers}
    classes = {cls for _, cls, _ in layers}
    known = names | classes | {"first", "dense", "conv", "depthwise"}
    unknown = sorted(str(k) for k in overrides if k not in known)
    if unknown:
        raise ValueError("overrides: no layer with weights, class or family named %s; expected layer names (%s), "
                         "class names (%s), 'first', 'dense', 'conv' or 'depthwise'"
                         % (", ".join(map(repr, unknown)), ", ".join(sorted(names)), ", ".join(sorted(classes))))
    plan = []
    for i, (name, cls, family) in enumerate(layers):
        for key, source in ((name, overrides), ("first" if i == 0 else None, overrides), (cls, overrides),
                            (family, overrides), ("first" if i == 0 else None, composite), (family, composite)):
            if key is not None and key in source:
                where = "overrides[%r]" % key if source is overrides else "rule %r" % rule
                plan.append((name,) + _entry(where, source[key], params))
                break
    return tuple(plan)
