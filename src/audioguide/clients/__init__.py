"""Many clients: the clients file, what was built for each client, the jobs a batch or a program
plans, and running them here in a pool of processes or on a Dask cluster.
"""
