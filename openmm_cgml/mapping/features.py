"""Vocabularies and per-atom features of the fine (atom-level) graph.

The Embedding GNN sees every atom through four features (see docs/CONTRACTS.md §2):

- ``element``: atomic number (int), 0 for particles without an element (polymer beads);
- ``residue``: index into :data:`RESIDUE_VOCAB` (0 = ``UNK``);
- ``role``: index into :data:`ROLE_VOCAB` (0 = ``other``);
- ``mass``: amu.

and every bond through a type, :data:`BOND_TYPES`. The vocabularies are append-only: a
trained model stores indices, so existing entries must never be reordered or removed.
"""

from __future__ import annotations

import re

# ---------------------------------------------------------------------------------------
# residues
AMINO_ACIDS: tuple[str, ...] = (
    "ALA", "ARG", "ASN", "ASP", "CYS", "GLN", "GLU", "GLY", "HIS", "ILE",
    "LEU", "LYS", "MET", "PHE", "PRO", "SER", "THR", "TRP", "TYR", "VAL",
)
#: protonation / disulfide variants (Amber and CHARMM names), selenomethionine etc.
AMINO_ACID_VARIANTS: tuple[str, ...] = (
    "HID", "HIE", "HIP", "HSD", "HSE", "HSP", "CYX", "CYM", "ASH", "GLH", "LYN",
    "MSE", "SEC", "PYL",
)
#: terminal caps
CAPS: tuple[str, ...] = ("ACE", "NME", "NH2")
NUCLEIC_ACIDS: tuple[str, ...] = ("A", "C", "G", "U", "I", "DA", "DC", "DG", "DT", "DI")
WATER_NAMES: frozenset[str] = frozenset(
    {"HOH", "WAT", "H2O", "TIP", "TIP3", "TIP4", "TIP5", "T3P", "T4P", "T5P", "SOL", "SPC", "DOD"}
)
#: monatomic (and a few small polyatomic) ions that PDB files carry as solvent
ION_NAMES: frozenset[str] = frozenset(
    {
        "NA", "CL", "K", "MG", "CA", "ZN", "LI", "RB", "CS", "F", "BR", "IOD", "I", "MN",
        "FE", "FE2", "CU", "CU1", "NI", "CO", "CD", "HG", "SR", "BA", "AL", "NA+", "CL-",
        "SOD", "CLA", "POT", "CAL", "SO4", "PO4",
    }
)
#: polymer monomer residue names ``P<backbone type><side type>`` (and ``P<backbone>`` for
#: monomers without a side chain), see docs/CONTRACTS.md §3.
POLYMER_RESIDUES: tuple[str, ...] = tuple(
    [f"P{b}" for b in "1234"] + [f"P{b}{s}" for b in "1234" for s in "ABCD"]
)

RESIDUE_VOCAB: tuple[str, ...] = (
    "UNK",
    *AMINO_ACIDS,
    *AMINO_ACID_VARIANTS,
    *CAPS,
    *NUCLEIC_ACIDS,
    "HOH",
    *POLYMER_RESIDUES,
)
_RESIDUE_INDEX = {name: i for i, name in enumerate(RESIDUE_VOCAB)}
_RESIDUE_ALIASES = {
    "HSD": "HSD", "HSE": "HSE", "HSP": "HSP", "WAT": "HOH", "SOL": "HOH", "TIP3": "HOH",
    "RA": "A", "RC": "C", "RG": "G", "RU": "U", "A5": "A", "A3": "A", "C5": "C", "C3": "C",
    "G5": "G", "G3": "G", "U5": "U", "U3": "U", "DA5": "DA", "DA3": "DA", "DC5": "DC",
    "DC3": "DC", "DG5": "DG", "DG3": "DG", "DT5": "DT", "DT3": "DT", "NMA": "NME",
}
_AMINO_SET = frozenset(AMINO_ACIDS + AMINO_ACID_VARIANTS)
PROTEIN_RESIDUES: frozenset[str] = frozenset(AMINO_ACIDS + AMINO_ACID_VARIANTS + CAPS)
NUCLEIC_RESIDUES: frozenset[str] = frozenset(NUCLEIC_ACIDS) | frozenset(
    k for k, v in _RESIDUE_ALIASES.items() if v in NUCLEIC_ACIDS
)
_POLYMER_RE = re.compile(r"^P\d[A-Z]?$")


def canonical_residue_name(name: str) -> str:
    """Upper-cased residue name with common aliases resolved (``WAT`` -> ``HOH``, Amber
    terminal names ``NALA``/``CALA`` -> ``ALA`` ...)."""
    key = name.strip().upper()
    key = _RESIDUE_ALIASES.get(key, key)
    if len(key) == 4 and key[0] in "NC" and key[1:] in _AMINO_SET:
        return key[1:]
    return key


def residue_index(name: str) -> int:
    """Index of a residue name in :data:`RESIDUE_VOCAB`; 0 (``UNK``) when unknown."""
    return _RESIDUE_INDEX.get(canonical_residue_name(name), 0)


def is_polymer_residue(name: str) -> bool:
    """True for coarse polymer monomers named ``P<digit>[<letter>]`` (e.g. ``P1A``)."""
    return bool(_POLYMER_RE.match(name.strip().upper()))


def is_protein_residue(name: str) -> bool:
    return canonical_residue_name(name) in PROTEIN_RESIDUES


def is_nucleic_residue(name: str) -> bool:
    return canonical_residue_name(name) in NUCLEIC_RESIDUES


def is_water(name: str) -> bool:
    return name.strip().upper() in WATER_NAMES


def is_ion(name: str, num_atoms: int) -> bool:
    """True for ion residues (by name; single-atom residues with an ion name)."""
    key = name.strip().upper()
    return key in ION_NAMES and (num_atoms <= 5)


# ---------------------------------------------------------------------------------------
# atom roles
ROLE_VOCAB: tuple[str, ...] = (
    "other",        # 0: ligand atoms, ions, unknown
    "N",            # 1: protein backbone amide N (also N-terminal N)
    "CA",           # 2: protein alpha carbon
    "C",            # 3: protein carbonyl C
    "O",            # 4: protein carbonyl O (and OXT)
    "H",            # 5: any hydrogen
    "sidechain",    # 6: protein side-chain heavy atom
    "B1",           # 7: polymer backbone bead type 1
    "B2",           # 8: polymer backbone bead type 2
    "S1",           # 9: polymer side bead type 1
    "S2",           # 10: polymer side bead type 2
    "na_backbone",  # 11: nucleic acid phosphate backbone heavy atom
    "na_sugar",     # 12: nucleic acid sugar heavy atom
    "na_base",      # 13: nucleic acid base heavy atom
    "water",        # 14: water oxygen (when waters are kept)
    "cap",          # 15: heavy atom of an ACE/NME/NH2 cap
)
_ROLE_INDEX = {name: i for i, name in enumerate(ROLE_VOCAB)}
PROTEIN_BACKBONE_NAMES: dict[str, str] = {
    "N": "N", "CA": "CA", "C": "C", "O": "O", "OXT": "O", "OT1": "O", "OT2": "O", "O1": "O",
    "O2": "O",
}
_NA_BACKBONE = frozenset(
    {"P", "OP1", "OP2", "OP3", "O1P", "O2P", "O3P", "O5'", "O3'", "O5*", "O3*"}
)
_NA_SUGAR = frozenset(
    {"C5'", "C4'", "O4'", "C3'", "C2'", "O2'", "C1'", "C5*", "C4*", "O4*", "C3*", "C2*", "O2*",
     "C1*"}
)


def role_index(residue_name: str, atom_name: str, atomic_number: int) -> int:
    """Index into :data:`ROLE_VOCAB` for one atom.

    Args:
        residue_name: residue name as in the topology (``ALA``, ``P1A``, ``HOH``...).
        atom_name: atom name (``CA``, ``B1``...).
        atomic_number: 0 for element-less particles.
    """
    res = canonical_residue_name(residue_name)
    name = atom_name.strip().upper()
    if atomic_number == 1:
        return _ROLE_INDEX["H"]
    if atomic_number == 0 and (is_polymer_residue(res) or name in ("B1", "B2", "S1", "S2")):
        return _ROLE_INDEX.get(name, 0)
    if res in WATER_NAMES or res == "HOH":
        return _ROLE_INDEX["water"]
    if res in CAPS:
        return _ROLE_INDEX["cap"]
    if res in PROTEIN_RESIDUES:
        backbone = PROTEIN_BACKBONE_NAMES.get(name)
        if backbone is not None:
            return _ROLE_INDEX[backbone]
        return _ROLE_INDEX["sidechain"]
    if res in NUCLEIC_RESIDUES:
        if name in _NA_BACKBONE:
            return _ROLE_INDEX["na_backbone"]
        if name in _NA_SUGAR:
            return _ROLE_INDEX["na_sugar"]
        return _ROLE_INDEX["na_base"]
    return 0


#: roles that belong to the "backbone" bead of the residue+sidechain scheme
BACKBONE_ROLES: frozenset[int] = frozenset(
    _ROLE_INDEX[r] for r in ("N", "CA", "C", "O", "B1", "B2", "na_backbone", "na_sugar", "cap")
)

# ---------------------------------------------------------------------------------------
# bonds
BOND_TYPES: tuple[str, ...] = (
    "single",            # 0: single or unknown
    "double",            # 1
    "triple",            # 2
    "aromatic",          # 3
    "polymer_backbone",  # 4: bond between two element-less polymer backbone beads
    "polymer_side",      # 5: bond involving a polymer side bead
)


def bond_type_index(
    bond_type: object | None,
    bond_order: int | None,
    atom_names: tuple[str, str],
    element_less: bool,
) -> int:
    """Index into :data:`BOND_TYPES` for one fine bond.

    Args:
        bond_type: ``openmm.app.topology.Single``/``Double``/``Triple``/``Aromatic``/``Amide``
            or None.
        bond_order: integer order or None.
        atom_names: names of the two atoms (used for element-less polymer particles).
        element_less: True if either atom has no element.
    """
    if element_less:
        names = tuple(n.strip().upper() for n in atom_names)
        if all(n.startswith("B") for n in names):
            return 4
        return 5
    label = str(bond_type).lower() if bond_type is not None else ""
    if "aromatic" in label:
        return 3
    if "triple" in label or bond_order == 3:
        return 2
    if "double" in label or bond_order == 2:
        return 1
    return 0
