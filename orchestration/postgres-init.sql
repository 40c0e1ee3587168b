-- The databases compose.yaml's Postgres starts with: Meltano's state, Dagster's run
-- history, and one store per client (add one per client: `reveni_<client>`).
CREATE DATABASE meltano;
CREATE DATABASE dagster;
CREATE DATABASE reveni_demo;
CREATE DATABASE reveni_acme;
