# H200 run A: plugin build, speed of protein-residue-100ps at its shipped 10 levels, GPU tests,
# radius vs static pairs at 1,000 replicas, cgml simulate --replicas 1000 --tf32
set -u
R=$OUT
python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl >$R/install.log 2>&1
export PYTHONPATH=/tmp/site:$PWD PATH=/tmp/site/bin:$PATH PYTHONUNBUFFERED=1 MPLBACKEND=Agg
t0=$(date +%s)
python3 -m pip install -q --no-build-isolation --no-deps -e . >$R/build.log 2>&1 || tail -20 $R/build.log
echo "build $(( $(date +%s) - t0 )) s"; cat openmm_cgml/plugin/_build_info.json; nvidia-smi -L
S="python3 benchmarks/speed.py --device cuda --tf32 --jit-optimize --budget 2 --sizes 10 --model protein-residue-100ps --skip-explicit"
timeout 140 $S --replicas 1 1000 3000 --json $R/speed_10lv.json >$R/speed_10lv.log 2>&1; tail -22 $R/speed_10lv.log
timeout 110 python3 -m pytest -m gpu tests -q -p no:cacheprovider >$R/gpu_tests.log 2>&1; tail -4 $R/gpu_tests.log
timeout 70 $S --skip-allatom --replicas 1000 --replica-graph radius --json $R/speed_10lv_radius.json >$R/speed_10lv_radius.log 2>&1; tail -5 $R/speed_10lv_radius.log
P=$(python3 -c "import openmm.app,os;print(os.path.join(os.path.dirname(openmm.app.__file__),'data','test.pdb'))")
timeout 90 cgml simulate $P --model protein-residue-100ps --time 10ns --replicas 1000 --tf32 --platform CUDA --no-progress --seed 1 -o $R/sim1000 >$R/sim1000.log 2>&1; tail -15 $R/sim1000.log; rm -f $R/sim1000/trajectory.dcd $R/sim1000/checkpoint.chk $R/sim1000/beads.pdb
echo "elapsed $(( $(date +%s) - t0 )) s"
timeout 60 $S --skip-allatom --replicas 1000 --pair-capacity 660000 --json $R/speed_10lv_cap660k.json >$R/speed_10lv_cap660k.log 2>&1; tail -5 $R/speed_10lv_cap660k.log
timeout 60 $S --skip-allatom --replicas 1000 --refine-levels 6 --json $R/speed_6lv.json >$R/speed_6lv.log 2>&1; tail -5 $R/speed_6lv.log
echo "total $(( $(date +%s) - t0 )) s"
