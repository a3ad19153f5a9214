def test_dbg(run_dag, capfd):
    run_dag("tia_test_train", conf={"prefix": "dbg", "workers": 2})
    out = capfd.readouterr().out
    print("\n".join(l for l in out.splitlines() if "dbg" in l and "step" in l))
