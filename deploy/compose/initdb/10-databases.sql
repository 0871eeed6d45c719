-- Run once by the postgres image on an empty data directory: one database per service.
CREATE DATABASE yibao_enrollment;
CREATE DATABASE yibao_settlement;
CREATE DATABASE yibao_ltc;
CREATE DATABASE yibao_supervision;
CREATE DATABASE yibao_gateway;
