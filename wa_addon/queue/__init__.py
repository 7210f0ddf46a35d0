"""The delivery engine, whole: lanes, sessions, the outbox, send rates, the worker.

- :mod:`.lanes` partitioned FIFOs in Redis with claim / ack, and the ready lists;
- :mod:`.session` the one drain loop shared by work lanes and outboxes, and
  :mod:`.partition` what it knows of the partitions it owns;
- :mod:`.outbox` what a send is and how it is recorded;
- :mod:`.rate` Meta's throughput (shared) and pair rate;
- :mod:`.housekeeping` orphaned partitions, phone leases, lifecycle timers;
- :mod:`.jobs` the RQ job (a session) and :mod:`.worker` the processes;
- :mod:`.lua` every script, each one atomic step.

Commands and transports never touch it: a command returns messages, the
session queues them; a transport sends one message when asked.
"""
