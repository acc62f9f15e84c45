# Villin (openmm app/data/test.pdb, never trained on) with protein-residue under six refinement
# settings: cgml simulate, 2 replicas x 10 ns (1,000 steps of 10 ps), seed 1, 2 CPU cores.
# Fraction of native contacts and Rg per replica: python q.py /tmp/vs_*
source /work/main/.venv/bin/activate
V=$(python -c "import openmm.app,os;print(os.path.join(os.path.dirname(openmm.app.__file__),'data','test.pdb'))")
for v in "default:" "top02:--refine-sigma-max 0.2 --refine-levels 4" "top08:--refine-sigma-max 0.8 --refine-levels 10" \
         "lev12:--refine-levels 12" "ddim:--sampler ddim" "lang3:--sampler langevin --refine-steps 3"; do
  k=${v%%:*}
  cgml simulate $V --time 10ns --replicas 2 --seed 1 --no-progress ${v#*:} -o /tmp/vs_$k > /tmp/vs_$k.log 2>&1
done
