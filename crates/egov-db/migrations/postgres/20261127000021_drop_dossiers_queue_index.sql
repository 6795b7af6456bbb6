-- The queue reads an agency's dossiers by appointment (dossiers_holder_due)
-- and filters the states on the way; this index only cost every action
-- its upkeep.
DROP INDEX dossiers_queue;
