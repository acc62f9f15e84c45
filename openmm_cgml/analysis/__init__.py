"""Analysis of bead trajectories: structure, dynamics, collisions, agreement scores, TICA/FES.

NumPy/SciPy (and deeptime for TICA) only; no torch, no OpenMM needed. Units: nm, ps, amu,
radians; free energies in kT unless stated. Positions are ``[N, 3]`` (one frame) or
``[T, N, 3]`` (a trajectory); every function is vectorised over frames.

Main entry points::

    radius_of_gyration(positions, masses)       # nm, float or [T]
    autocorrelation(x)                           # normalised ACF, lag 0 = 1 (FFT)
    relaxation_time(x, dt, method="integrated")  # unit of dt (Sokal window / exp fit)
    collision_rate(positions, 0.1, bonds)        # fraction of bead-steps in collision
    r2_score(predicted, reference), mae(...)     # across systems
    r2_interval(...), r2_noise_ceiling(...)      # how far r^2 can be trusted
"""

from openmm_cgml.analysis.collisions import (
    DEFAULT_COLLISION_THRESHOLD_NM,
    StabilityResult,
    closest_nonbonded_distance,
    colliding_beads,
    collision_rate,
    excluded_pairs,
    pair_type_min_distances,
    rollout_stability,
)
from openmm_cgml.analysis.dynamics import (
    RelaxationEstimate,
    autocorrelation,
    diffusion_coefficient,
    estimate_relaxation_time,
    mean_squared_displacement,
    relaxation_time,
)
from openmm_cgml.analysis.fes import (
    FESComparison,
    compare_free_energy_surfaces,
    distance_features,
    fit_tica,
    free_energy_surface,
    select_distance_pairs,
)
from openmm_cgml.analysis.metrics import (
    distribution_divergence,
    histogram,
    js_divergence,
    mae,
    pearson_r2,
    r2_interval,
    r2_noise_ceiling,
    r2_score,
    rmse,
)
from openmm_cgml.analysis.structure import (
    angle_triples,
    bond_angles,
    bond_lengths,
    center_of_mass,
    contact_map,
    distance_map,
    fraction_native_contacts,
    native_contacts,
    pairwise_distances,
    radius_of_gyration,
    rmsd,
    superpose,
)

__all__ = [
    "DEFAULT_COLLISION_THRESHOLD_NM",
    "FESComparison",
    "RelaxationEstimate",
    "StabilityResult",
    "angle_triples",
    "autocorrelation",
    "bond_angles",
    "bond_lengths",
    "center_of_mass",
    "closest_nonbonded_distance",
    "colliding_beads",
    "collision_rate",
    "compare_free_energy_surfaces",
    "contact_map",
    "diffusion_coefficient",
    "distance_features",
    "distance_map",
    "distribution_divergence",
    "estimate_relaxation_time",
    "excluded_pairs",
    "fit_tica",
    "fraction_native_contacts",
    "free_energy_surface",
    "histogram",
    "js_divergence",
    "mae",
    "mean_squared_displacement",
    "native_contacts",
    "pair_type_min_distances",
    "pairwise_distances",
    "pearson_r2",
    "r2_interval",
    "r2_noise_ceiling",
    "r2_score",
    "radius_of_gyration",
    "relaxation_time",
    "rmsd",
    "rmse",
    "rollout_stability",
    "select_distance_pairs",
    "superpose",
]
