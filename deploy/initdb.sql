-- Run once by the postgres image at the first start of its volume: the
-- schema accessbot keeps its tables in, owned by the user it connects as.
CREATE SCHEMA accessbot AUTHORIZATION accessbot;
