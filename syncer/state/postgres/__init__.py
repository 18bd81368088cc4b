"""The PostgreSQL state backend: a schema on a server shared by several projects, an advisory
lock per project that dies with its connection (``postgresql://user@host/db?schema=&project=``)."""
