"""Published numbers of the paper mitwin reproduces, for side-by-side reports.

Li L, Camps J, Wang Z, Beetz M, Banerjee A, Rodriguez B, Grau V. *Towards enabling cardiac
digital twins of myocardial infarction using deep computational models for inverse inference.*
IEEE Transactions on Medical Imaging (2024). Values are copied from its Table I and Sec. IV-B;
mean and standard deviation over 10 test subjects.
"""

from __future__ import annotations

CITATION = (
    "Li L, Camps J, Wang Z, Beetz M, Banerjee A, Rodriguez B, Grau V. Towards enabling cardiac digital "
    "twins of myocardial infarction using deep computational models for inverse inference. "
    "IEEE Trans Med Imaging, 2024."
)

#: Table I columns, in order.
TABLE1_COLUMNS: tuple[str, ...] = (
    "scar_dice", "scar_precision", "scar_recall", "bz_dice", "bz_precision", "bz_recall", "aha_loc_score",
)

# scenario name (as in mitwin.infarct.SCENARIOS; "lateral" is the paper's large lateral) ->
# 7 (mean, sd) pairs in TABLE1_COLUMNS order.
# The paper's row "transmural septal" lists only six values; its AHA-loc-score is not given (None).
TABLE1: dict[str, tuple[tuple[float, float] | None, ...]] = {
    "septal_subendocardial": ((0.349, 0.198), (0.384, 0.311), (0.517, 0.327), (0.246, 0.200),
                              (0.236, 0.237), (0.340, 0.282), (0.687, 0.347)),
    "apical_subendocardial": ((0.564, 0.070), (0.490, 0.154), (0.795, 0.201), (0.336, 0.064),
                              (0.311, 0.134), (0.497, 0.177), (0.915, 0.190)),
    "extensive_anterior_subendocardial": ((0.702, 0.039), (0.707, 0.135), (0.745, 0.125), (0.370, 0.105),
                                          (0.391, 0.102), (0.389, 0.129), (0.721, 0.264)),
    "limited_anterior_subendocardial": ((0.476, 0.241), (0.464, 0.201), (0.584, 0.349), (0.284, 0.122),
                                        (0.266, 0.157), (0.272, 0.173), (0.691, 0.328)),
    "lateral_subendocardial": ((0.222, 0.219), (0.200, 0.149), (0.323, 0.370), (0.137, 0.138),
                               (0.147, 0.159), (0.206, 0.265), (0.452, 0.288)),
    "small_lateral_subendocardial": ((0.097, 0.112), (0.067, 0.087), (0.388, 0.452), (0.000, 0.000),
                                     (0.000, 0.000), (0.000, 0.000), (0.384, 0.286)),
    "inferior_subendocardial": ((0.228, 0.252), (0.233, 0.301), (0.295, 0.323), (0.100, 0.144),
                                (0.130, 0.212), (0.120, 0.159), (0.480, 0.361)),
    "inferolateral_subendocardial": ((0.527, 0.256), (0.539, 0.283), (0.602, 0.330), (0.321, 0.158),
                                     (0.346, 0.184), (0.370, 0.196), (0.550, 0.316)),
    "septal_transmural": ((0.739, 0.217), (0.814, 0.195), (0.695, 0.195), (0.698, 0.241),
                          (0.628, 0.244), (0.628, 0.244), None),
    "apical_transmural": ((0.779, 0.186), (0.950, 0.046), (0.703, 0.221), (0.699, 0.140),
                          (0.796, 0.077), (0.649, 0.187), (0.921, 0.179)),
    "extensive_anterior_transmural": ((0.934, 0.028), (0.967, 0.020), (0.908, 0.057), (0.785, 0.043),
                                      (0.761, 0.041), (0.815, 0.061), (0.987, 0.007)),
    "limited_anterior_transmural": ((0.450, 0.280), (0.696, 0.412), (0.392, 0.274), (0.242, 0.162),
                                    (0.430, 0.259), (0.193, 0.137), (0.711, 0.333)),
    "lateral_transmural": ((0.211, 0.220), (0.397, 0.381), (0.168, 0.185), (0.132, 0.129),
                           (0.437, 0.340), (0.091, 0.107), (0.403, 0.247)),
    "small_lateral_transmural": ((0.311, 0.244), (0.363, 0.289), (0.372, 0.353), (0.011, 0.032),
                                 (0.025, 0.075), (0.010, 0.029), (0.609, 0.328)),
    "inferior_transmural": ((0.173, 0.288), (0.162, 0.263), (0.195, 0.332), (0.106, 0.193),
                            (0.149, 0.271), (0.111, 0.207), (0.270, 0.227)),
    "inferolateral_transmural": ((0.543, 0.245), (0.874, 0.247), (0.437, 0.275), (0.452, 0.188),
                                 (0.689, 0.182), (0.374, 0.234), (0.688, 0.284)),
}

#: Averages over the 16 inference scenarios (Table I, last row).
TABLE1_AVERAGE: tuple[tuple[float, float], ...] = (
    (0.457, 0.317), (0.519, 0.370), (0.507, 0.362), (0.302, 0.273), (0.363, 0.311), (0.317, 0.293), (0.634, 0.342),
)

#: Averages over the subendocardial and the transmural scenarios (Table I), keyed as
#: :func:`mitwin.model.metrics.summarise` names its rows.
TABLE1_GROUP_AVERAGES: dict[str, tuple[tuple[float, float], ...]] = {
    "Average (subendocardial)": ((0.396, 0.271), (0.386, 0.292), (0.531, 0.368), (0.220, 0.178),
              (0.228, 0.203), (0.274, 0.243), (0.610, 0.343)),
    "Average (transmural)": ((0.518, 0.347), (0.653, 0.391), (0.484, 0.354), (0.385, 0.322),
              (0.498, 0.340), (0.359, 0.331), (0.659, 0.339)),
    "Average": TABLE1_AVERAGE,
}

#: QRS durations reported in Sec. IV-B (ms).
QRS_DURATION_MS: dict[str, float] = {
    "normal": 90.4,
    "apical": 124.1,
    "inferolateral": 107.7,
    "lateral_large_transmural": 99.5,
    "lateral_large_transmural_slow_cv": 113.8,
}

#: Forward-model cost and training time reported by the paper.
SIMULATION_MINUTES_PER_QRS = 5.0
TRAINING_HOURS_GPU = 10.0

#: QRS durations of Sec. IV-B by scenario group, as the sensitivity report compares them (ms).
PAPER_QRS_MS: dict[str, float] = {k: QRS_DURATION_MS[k] for k in ("normal", "apical", "inferolateral")}
#: The large transmural lateral infarct at normal and slow conduction (Sec. IV-B, ms).
PAPER_SLOW_CV_MS: dict[str, float] = {"normal_cv": QRS_DURATION_MS["lateral_large_transmural"],
                                      "slow_cv": QRS_DURATION_MS["lateral_large_transmural_slow_cv"]}

#: Locations (keys of :data:`mitwin.infarct.LOCATIONS`) whose infarcts altered the QRS most (Sec. IV-B).
LARGEST_ALTERATIONS: tuple[str, ...] = ("inferolateral", "extensive_anterior", "apical")
#: Locations where poor R-wave progression appeared most (Sec. IV-B).
PRWP_LOCATIONS: tuple[str, ...] = ("extensive_anterior", "septal", "apical")
#: The location where the subendocardial infarct altered the QRS as much as the transmural one (Sec. IV-B).
EXTENT_EXCEPTION = "limited_anterior"
