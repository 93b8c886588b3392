"""`appliance bench`: the real pipeline on real inputs, each figure beside a floor.

One module per family (face, search, speech, service: gateway + bus +
supervisor + memory); :mod:`.runner` runs them, writes ``bench.json`` and
renders the table.  Every figure is a median over repeats and is printed next
to a reference measured in the same run on the same machine (the raw model
call, the memory-bandwidth bound, a raw pyzmq round trip…), as a ratio: the
ratio says how much our code adds, which a bare number cannot.
"""
