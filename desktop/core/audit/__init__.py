"""The audit trail: DICOM audit messages (PS3.15 A.5), a hash-chained local log, and a spool
forwarded to an audit repository over syslog/TLS (RFC 5424, RFC 5425). Plain Python, no Qt."""
