# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_movieapp_global_optspecs
    string join \n config= data-dir= log-level= log-format= registry= broker= cacert= cert= key= h/help V/version
end

function __fish_movieapp_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_movieapp_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_movieapp_using_subcommand
    set -l cmd (__fish_movieapp_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c movieapp -n "__fish_movieapp_needs_command" -l config -d 'YAML configuration file (format: configs/base.yaml) [env: MOVIEAPP_CONFIG]' -r -F
complete -c movieapp -n "__fish_movieapp_needs_command" -l data-dir -d 'Where the services keep their data [env: MOVIEAPP_DATA_DIR; default: the platform data directory, e.g. ~/.local/share/movieapp]' -r -F
complete -c movieapp -n "__fish_movieapp_needs_command" -l log-level -d 'Log level (error, warn, info, debug, trace) or a filter such as `movieapp=debug`; overrides RUST_LOG [default: info for serve, warn for clients]' -r
complete -c movieapp -n "__fish_movieapp_needs_command" -l log-format -d 'Log lines on stderr as text, or as JSON objects with `service`, `component` and `endpoint` fields [env: MOVIEAPP_LOG_FORMAT; config: log.format; default: text]' -r -f -a "text\t''
json\t''"
complete -c movieapp -n "__fish_movieapp_needs_command" -l registry -d 'Service registry: sqlite (default; <data-dir>/registry.db, shared by every movieapp on this host), memory, static (addresses from config) or consul://host:port [env: MOVIEAPP_REGISTRY; config: serviceDiscovery.backend]' -r
complete -c movieapp -n "__fish_movieapp_needs_command" -l broker -d 'Rating feed broker: sqlite (default; <data-dir>/broker.db, embedded) or kafka://host:9092[,host2:9092] [env: MOVIEAPP_BROKER; config: broker.backend]' -r
complete -c movieapp -n "__fish_movieapp_needs_command" -l cacert -d 'The CA to verify the services\' certificates against; given, clients speak TLS [env: MOVIEAPP_TLS_CA; config: tls.ca]' -r -F
complete -c movieapp -n "__fish_movieapp_needs_command" -l cert -d 'The client certificate to present under mutual TLS, with --key [env: MOVIEAPP_TLS_CLIENT_CERT; config: tls.clientCert]' -r -F
complete -c movieapp -n "__fish_movieapp_needs_command" -l key -d 'The client certificate\'s private key [env: MOVIEAPP_TLS_CLIENT_KEY; config: tls.clientKey]' -r -F
complete -c movieapp -n "__fish_movieapp_needs_command" -s h -l help -d 'Print help'
complete -c movieapp -n "__fish_movieapp_needs_command" -s V -l version -d 'Print version'
complete -c movieapp -n "__fish_movieapp_needs_command" -f -a "serve" -d 'Run the metadata, rating, movie and auth services in this process, data in SQLite'
complete -c movieapp -n "__fish_movieapp_needs_command" -f -a "movie" -d 'Show or store movies'
complete -c movieapp -n "__fish_movieapp_needs_command" -f -a "rate" -d 'Rate records, read their aggregated rating, or list who rated them'
complete -c movieapp -n "__fish_movieapp_needs_command" -f -a "produce" -d 'Publish rating events to the rating feed (book chapter 6)'
complete -c movieapp -n "__fish_movieapp_needs_command" -f -a "profile" -d 'Take a CPU profile of a running movieapp, as pprof or a flame graph'
complete -c movieapp -n "__fish_movieapp_needs_command" -f -a "feed" -d 'Inspect the rating feed, and follow topics such as rating-changes'
complete -c movieapp -n "__fish_movieapp_needs_command" -f -a "registry" -d 'See which service instances are registered, where, and whether they are healthy'
complete -c movieapp -n "__fish_movieapp_needs_command" -f -a "auth" -d 'Manage the users who may get tokens from the auth service, and its signing keys'
complete -c movieapp -n "__fish_movieapp_needs_command" -f -a "login" -d 'Get a token from the auth service and keep it for the other commands'
complete -c movieapp -n "__fish_movieapp_needs_command" -f -a "logout" -d 'Forget the token `movieapp login` kept, so the other commands stop sending it'
complete -c movieapp -n "__fish_movieapp_needs_command" -f -a "lock" -d 'Run a command while holding a lock, or show who holds which lock'
complete -c movieapp -n "__fish_movieapp_needs_command" -f -a "health" -d 'Ask a service whether it is serving (gRPC health checking), once'
complete -c movieapp -n "__fish_movieapp_needs_command" -f -a "top" -d 'A live view of every registered instance: state, calls/s, errors, latency'
complete -c movieapp -n "__fish_movieapp_needs_command" -f -a "certs" -d 'Make certificates for trying TLS and mutual TLS on this machine'
complete -c movieapp -n "__fish_movieapp_needs_command" -f -a "bench-serialize" -d 'Compare serialization formats for a movie\'s metadata (book chapter 4)'
complete -c movieapp -n "__fish_movieapp_needs_command" -f -a "bench-load" -d 'Load-test a service: one call, repeated, with latency percentiles'
complete -c movieapp -n "__fish_movieapp_needs_command" -f -a "config" -d 'Check a configuration file, or show the effective configuration'
complete -c movieapp -n "__fish_movieapp_needs_command" -f -a "db" -d 'Run or show the database migrations of metadata and rating'
complete -c movieapp -n "__fish_movieapp_needs_command" -f -a "completions" -d 'Print a shell completion script'
complete -c movieapp -n "__fish_movieapp_needs_command" -f -a "version" -d 'What this binary was built from: version, git commit, compiler, features'
complete -c movieapp -n "__fish_movieapp_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c movieapp -n "__fish_movieapp_using_subcommand serve" -l services -d 'Services to run, comma-separated' -r -f -a "metadata\t''
rating\t''
movie\t''
auth\t''"
complete -c movieapp -n "__fish_movieapp_using_subcommand serve" -l host -d 'Address to listen on (0.0.0.0 for all interfaces) [config: listenHost; env: MOVIEAPP_LISTEN_HOST; default: 127.0.0.1]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand serve" -l advertise-host -d 'Host (name or address) other hosts reach this one at, registered in service discovery, e.g. the pod IP [config: advertiseHost; env: MOVIEAPP_ADVERTISE_HOST; default: the --host address, or loopback when that is 0.0.0.0]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand serve" -l metadata-port -d 'Port of the metadata service, 0 for a free one [config: metadata.api.port; env: MOVIEAPP_METADATA_API_PORT; default: 8081]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand serve" -l rating-port -d 'Port of the rating service, 0 for a free one [config: rating.api.port; env: MOVIEAPP_RATING_API_PORT; default: 8082]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand serve" -l movie-port -d 'Port of the movie service, 0 for a free one [config: movie.api.port; env: MOVIEAPP_MOVIE_API_PORT; default: 8083]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand serve" -l auth-port -d 'Port of the auth service, 0 for a free one [config: auth.api.port; env: MOVIEAPP_AUTH_API_PORT; default: 8084]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand serve" -l dashboard-port -d 'Port of the web dashboard, 0 to turn it off; on loopback unless auth is on [config: dashboard.port; env: MOVIEAPP_DASHBOARD_PORT; default: 8085]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand serve" -l registry -d 'Service registry: sqlite (default; <data-dir>/registry.db, shared by every movieapp on this host), memory, static (addresses from config) or consul://host:port [env: MOVIEAPP_REGISTRY; config: serviceDiscovery.backend]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand serve" -l broker -d 'Rating feed broker: sqlite (default; <data-dir>/broker.db, embedded) or kafka://host:9092[,host2:9092] [env: MOVIEAPP_BROKER; config: broker.backend]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand serve" -l config -d 'YAML configuration file (format: configs/base.yaml) [env: MOVIEAPP_CONFIG]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand serve" -l data-dir -d 'Where the services keep their data [env: MOVIEAPP_DATA_DIR; default: the platform data directory, e.g. ~/.local/share/movieapp]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand serve" -l log-level -d 'Log level (error, warn, info, debug, trace) or a filter such as `movieapp=debug`; overrides RUST_LOG [default: info for serve, warn for clients]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand serve" -l log-format -d 'Log lines on stderr as text, or as JSON objects with `service`, `component` and `endpoint` fields [env: MOVIEAPP_LOG_FORMAT; config: log.format; default: text]' -r -f -a "text\t''
json\t''"
complete -c movieapp -n "__fish_movieapp_using_subcommand serve" -l insecure -d 'Listen on a non-loopback --host with auth.mode off, where anyone who reaches the ports may change any movie or rating (without it, serve refuses to start)'
complete -c movieapp -n "__fish_movieapp_using_subcommand serve" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c movieapp -n "__fish_movieapp_using_subcommand serve" -s V -l version -d 'Print version'
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and not __fish_seen_subcommand_from get put upload list files help" -l registry -d 'Service registry: sqlite (default; <data-dir>/registry.db, shared by every movieapp on this host), memory, static (addresses from config) or consul://host:port [env: MOVIEAPP_REGISTRY; config: serviceDiscovery.backend]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and not __fish_seen_subcommand_from get put upload list files help" -l cacert -d 'The CA to verify the services\' certificates against; given, clients speak TLS [env: MOVIEAPP_TLS_CA; config: tls.ca]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and not __fish_seen_subcommand_from get put upload list files help" -l cert -d 'The client certificate to present under mutual TLS, with --key [env: MOVIEAPP_TLS_CLIENT_CERT; config: tls.clientCert]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and not __fish_seen_subcommand_from get put upload list files help" -l key -d 'The client certificate\'s private key [env: MOVIEAPP_TLS_CLIENT_KEY; config: tls.clientKey]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and not __fish_seen_subcommand_from get put upload list files help" -l config -d 'YAML configuration file (format: configs/base.yaml) [env: MOVIEAPP_CONFIG]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and not __fish_seen_subcommand_from get put upload list files help" -l data-dir -d 'Where the services keep their data [env: MOVIEAPP_DATA_DIR; default: the platform data directory, e.g. ~/.local/share/movieapp]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and not __fish_seen_subcommand_from get put upload list files help" -l log-level -d 'Log level (error, warn, info, debug, trace) or a filter such as `movieapp=debug`; overrides RUST_LOG [default: info for serve, warn for clients]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and not __fish_seen_subcommand_from get put upload list files help" -l log-format -d 'Log lines on stderr as text, or as JSON objects with `service`, `component` and `endpoint` fields [env: MOVIEAPP_LOG_FORMAT; config: log.format; default: text]' -r -f -a "text\t''
json\t''"
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and not __fish_seen_subcommand_from get put upload list files help" -s h -l help -d 'Print help'
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and not __fish_seen_subcommand_from get put upload list files help" -s V -l version -d 'Print version'
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and not __fish_seen_subcommand_from get put upload list files help" -f -a "get" -d 'Show a movie\'s metadata and aggregated rating (asks the movie service)'
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and not __fish_seen_subcommand_from get put upload list files help" -f -a "put" -d 'Store or replace a movie\'s metadata (asks the metadata service)'
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and not __fish_seen_subcommand_from get put upload list files help" -f -a "upload" -d 'Upload a file of a movie\'s (asks the movie service), streamed in 64 KiB chunks'
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and not __fish_seen_subcommand_from get put upload list files help" -f -a "list" -d 'List the movies by id, following pages to the end (asks the metadata service)'
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and not __fish_seen_subcommand_from get put upload list files help" -f -a "files" -d 'List a movie\'s files: size, checksum, and whether the processor has checked them'
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and not __fish_seen_subcommand_from get put upload list files help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from get" -l addr -d 'Address of the service this command calls (host:port) [default: a healthy instance found in the service registry, see --registry]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from get" -s o -l output -d 'Output format' -r -f -a "table\t'A readable table'
json\t'JSON, one document per command, for scripts'"
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from get" -l token -d 'Token to send (visible to other users in the process list: prefer MOVIEAPP_TOKEN or `movieapp login`) [env: MOVIEAPP_TOKEN; default: the one `movieapp login` kept]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from get" -l registry -d 'Service registry: sqlite (default; <data-dir>/registry.db, shared by every movieapp on this host), memory, static (addresses from config) or consul://host:port [env: MOVIEAPP_REGISTRY; config: serviceDiscovery.backend]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from get" -l cacert -d 'The CA to verify the services\' certificates against; given, clients speak TLS [env: MOVIEAPP_TLS_CA; config: tls.ca]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from get" -l cert -d 'The client certificate to present under mutual TLS, with --key [env: MOVIEAPP_TLS_CLIENT_CERT; config: tls.clientCert]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from get" -l key -d 'The client certificate\'s private key [env: MOVIEAPP_TLS_CLIENT_KEY; config: tls.clientKey]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from get" -l config -d 'YAML configuration file (format: configs/base.yaml) [env: MOVIEAPP_CONFIG]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from get" -l data-dir -d 'Where the services keep their data [env: MOVIEAPP_DATA_DIR; default: the platform data directory, e.g. ~/.local/share/movieapp]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from get" -l log-level -d 'Log level (error, warn, info, debug, trace) or a filter such as `movieapp=debug`; overrides RUST_LOG [default: info for serve, warn for clients]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from get" -l log-format -d 'Log lines on stderr as text, or as JSON objects with `service`, `component` and `endpoint` fields [env: MOVIEAPP_LOG_FORMAT; config: log.format; default: text]' -r -f -a "text\t''
json\t''"
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from get" -s v -l verbose -d 'Print the trace id of each call that succeeds, on stderr (a failed call\'s error always ends with it), to find the call\'s log lines: `grep <trace id>`'
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from get" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from get" -s V -l version -d 'Print version'
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from put" -l title -d 'Title, at most 255 bytes' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from put" -l description -d 'Description, at most 64 KiB' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from put" -l director -d 'Director, at most 255 bytes' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from put" -l addr -d 'Address of the service this command calls (host:port) [default: a healthy instance found in the service registry, see --registry]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from put" -s o -l output -d 'Output format' -r -f -a "table\t'A readable table'
json\t'JSON, one document per command, for scripts'"
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from put" -l token -d 'Token to send (visible to other users in the process list: prefer MOVIEAPP_TOKEN or `movieapp login`) [env: MOVIEAPP_TOKEN; default: the one `movieapp login` kept]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from put" -l registry -d 'Service registry: sqlite (default; <data-dir>/registry.db, shared by every movieapp on this host), memory, static (addresses from config) or consul://host:port [env: MOVIEAPP_REGISTRY; config: serviceDiscovery.backend]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from put" -l cacert -d 'The CA to verify the services\' certificates against; given, clients speak TLS [env: MOVIEAPP_TLS_CA; config: tls.ca]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from put" -l cert -d 'The client certificate to present under mutual TLS, with --key [env: MOVIEAPP_TLS_CLIENT_CERT; config: tls.clientCert]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from put" -l key -d 'The client certificate\'s private key [env: MOVIEAPP_TLS_CLIENT_KEY; config: tls.clientKey]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from put" -l config -d 'YAML configuration file (format: configs/base.yaml) [env: MOVIEAPP_CONFIG]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from put" -l data-dir -d 'Where the services keep their data [env: MOVIEAPP_DATA_DIR; default: the platform data directory, e.g. ~/.local/share/movieapp]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from put" -l log-level -d 'Log level (error, warn, info, debug, trace) or a filter such as `movieapp=debug`; overrides RUST_LOG [default: info for serve, warn for clients]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from put" -l log-format -d 'Log lines on stderr as text, or as JSON objects with `service`, `component` and `endpoint` fields [env: MOVIEAPP_LOG_FORMAT; config: log.format; default: text]' -r -f -a "text\t''
json\t''"
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from put" -s v -l verbose -d 'Print the trace id of each call that succeeds, on stderr (a failed call\'s error always ends with it), to find the call\'s log lines: `grep <trace id>`'
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from put" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from put" -s V -l version -d 'Print version'
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from upload" -l name -d 'The name to store it under' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from upload" -l timeout -d 'How long the upload may take' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from upload" -l addr -d 'Address of the service this command calls (host:port) [default: a healthy instance found in the service registry, see --registry]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from upload" -s o -l output -d 'Output format' -r -f -a "table\t'A readable table'
json\t'JSON, one document per command, for scripts'"
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from upload" -l token -d 'Token to send (visible to other users in the process list: prefer MOVIEAPP_TOKEN or `movieapp login`) [env: MOVIEAPP_TOKEN; default: the one `movieapp login` kept]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from upload" -l registry -d 'Service registry: sqlite (default; <data-dir>/registry.db, shared by every movieapp on this host), memory, static (addresses from config) or consul://host:port [env: MOVIEAPP_REGISTRY; config: serviceDiscovery.backend]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from upload" -l cacert -d 'The CA to verify the services\' certificates against; given, clients speak TLS [env: MOVIEAPP_TLS_CA; config: tls.ca]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from upload" -l cert -d 'The client certificate to present under mutual TLS, with --key [env: MOVIEAPP_TLS_CLIENT_CERT; config: tls.clientCert]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from upload" -l key -d 'The client certificate\'s private key [env: MOVIEAPP_TLS_CLIENT_KEY; config: tls.clientKey]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from upload" -l config -d 'YAML configuration file (format: configs/base.yaml) [env: MOVIEAPP_CONFIG]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from upload" -l data-dir -d 'Where the services keep their data [env: MOVIEAPP_DATA_DIR; default: the platform data directory, e.g. ~/.local/share/movieapp]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from upload" -l log-level -d 'Log level (error, warn, info, debug, trace) or a filter such as `movieapp=debug`; overrides RUST_LOG [default: info for serve, warn for clients]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from upload" -l log-format -d 'Log lines on stderr as text, or as JSON objects with `service`, `component` and `endpoint` fields [env: MOVIEAPP_LOG_FORMAT; config: log.format; default: text]' -r -f -a "text\t''
json\t''"
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from upload" -s v -l verbose -d 'Print the trace id of each call that succeeds, on stderr (a failed call\'s error always ends with it), to find the call\'s log lines: `grep <trace id>`'
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from upload" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from upload" -s V -l version -d 'Print version'
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from list" -l title-prefix -d 'Only movies whose title starts with this (byte for byte)' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from list" -l limit -d 'Stop after this many movies' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from list" -l addr -d 'Address of the service this command calls (host:port) [default: a healthy instance found in the service registry, see --registry]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from list" -s o -l output -d 'Output format' -r -f -a "table\t'A readable table'
json\t'JSON, one document per command, for scripts'"
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from list" -l token -d 'Token to send (visible to other users in the process list: prefer MOVIEAPP_TOKEN or `movieapp login`) [env: MOVIEAPP_TOKEN; default: the one `movieapp login` kept]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from list" -l registry -d 'Service registry: sqlite (default; <data-dir>/registry.db, shared by every movieapp on this host), memory, static (addresses from config) or consul://host:port [env: MOVIEAPP_REGISTRY; config: serviceDiscovery.backend]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from list" -l cacert -d 'The CA to verify the services\' certificates against; given, clients speak TLS [env: MOVIEAPP_TLS_CA; config: tls.ca]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from list" -l cert -d 'The client certificate to present under mutual TLS, with --key [env: MOVIEAPP_TLS_CLIENT_CERT; config: tls.clientCert]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from list" -l key -d 'The client certificate\'s private key [env: MOVIEAPP_TLS_CLIENT_KEY; config: tls.clientKey]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from list" -l config -d 'YAML configuration file (format: configs/base.yaml) [env: MOVIEAPP_CONFIG]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from list" -l data-dir -d 'Where the services keep their data [env: MOVIEAPP_DATA_DIR; default: the platform data directory, e.g. ~/.local/share/movieapp]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from list" -l log-level -d 'Log level (error, warn, info, debug, trace) or a filter such as `movieapp=debug`; overrides RUST_LOG [default: info for serve, warn for clients]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from list" -l log-format -d 'Log lines on stderr as text, or as JSON objects with `service`, `component` and `endpoint` fields [env: MOVIEAPP_LOG_FORMAT; config: log.format; default: text]' -r -f -a "text\t''
json\t''"
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from list" -s v -l verbose -d 'Print the trace id of each call that succeeds, on stderr (a failed call\'s error always ends with it), to find the call\'s log lines: `grep <trace id>`'
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from files" -l addr -d 'Address of the service this command calls (host:port) [default: a healthy instance found in the service registry, see --registry]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from files" -s o -l output -d 'Output format' -r -f -a "table\t'A readable table'
json\t'JSON, one document per command, for scripts'"
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from files" -l token -d 'Token to send (visible to other users in the process list: prefer MOVIEAPP_TOKEN or `movieapp login`) [env: MOVIEAPP_TOKEN; default: the one `movieapp login` kept]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from files" -l registry -d 'Service registry: sqlite (default; <data-dir>/registry.db, shared by every movieapp on this host), memory, static (addresses from config) or consul://host:port [env: MOVIEAPP_REGISTRY; config: serviceDiscovery.backend]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from files" -l cacert -d 'The CA to verify the services\' certificates against; given, clients speak TLS [env: MOVIEAPP_TLS_CA; config: tls.ca]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from files" -l cert -d 'The client certificate to present under mutual TLS, with --key [env: MOVIEAPP_TLS_CLIENT_CERT; config: tls.clientCert]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from files" -l key -d 'The client certificate\'s private key [env: MOVIEAPP_TLS_CLIENT_KEY; config: tls.clientKey]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from files" -l config -d 'YAML configuration file (format: configs/base.yaml) [env: MOVIEAPP_CONFIG]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from files" -l data-dir -d 'Where the services keep their data [env: MOVIEAPP_DATA_DIR; default: the platform data directory, e.g. ~/.local/share/movieapp]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from files" -l log-level -d 'Log level (error, warn, info, debug, trace) or a filter such as `movieapp=debug`; overrides RUST_LOG [default: info for serve, warn for clients]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from files" -l log-format -d 'Log lines on stderr as text, or as JSON objects with `service`, `component` and `endpoint` fields [env: MOVIEAPP_LOG_FORMAT; config: log.format; default: text]' -r -f -a "text\t''
json\t''"
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from files" -s v -l verbose -d 'Print the trace id of each call that succeeds, on stderr (a failed call\'s error always ends with it), to find the call\'s log lines: `grep <trace id>`'
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from files" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from files" -s V -l version -d 'Print version'
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from help" -f -a "get" -d 'Show a movie\'s metadata and aggregated rating (asks the movie service)'
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from help" -f -a "put" -d 'Store or replace a movie\'s metadata (asks the metadata service)'
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from help" -f -a "upload" -d 'Upload a file of a movie\'s (asks the movie service), streamed in 64 KiB chunks'
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from help" -f -a "list" -d 'List the movies by id, following pages to the end (asks the metadata service)'
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from help" -f -a "files" -d 'List a movie\'s files: size, checksum, and whether the processor has checked them'
complete -c movieapp -n "__fish_movieapp_using_subcommand movie; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and not __fish_seen_subcommand_from put list get help" -l registry -d 'Service registry: sqlite (default; <data-dir>/registry.db, shared by every movieapp on this host), memory, static (addresses from config) or consul://host:port [env: MOVIEAPP_REGISTRY; config: serviceDiscovery.backend]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and not __fish_seen_subcommand_from put list get help" -l cacert -d 'The CA to verify the services\' certificates against; given, clients speak TLS [env: MOVIEAPP_TLS_CA; config: tls.ca]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and not __fish_seen_subcommand_from put list get help" -l cert -d 'The client certificate to present under mutual TLS, with --key [env: MOVIEAPP_TLS_CLIENT_CERT; config: tls.clientCert]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and not __fish_seen_subcommand_from put list get help" -l key -d 'The client certificate\'s private key [env: MOVIEAPP_TLS_CLIENT_KEY; config: tls.clientKey]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and not __fish_seen_subcommand_from put list get help" -l config -d 'YAML configuration file (format: configs/base.yaml) [env: MOVIEAPP_CONFIG]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and not __fish_seen_subcommand_from put list get help" -l data-dir -d 'Where the services keep their data [env: MOVIEAPP_DATA_DIR; default: the platform data directory, e.g. ~/.local/share/movieapp]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and not __fish_seen_subcommand_from put list get help" -l log-level -d 'Log level (error, warn, info, debug, trace) or a filter such as `movieapp=debug`; overrides RUST_LOG [default: info for serve, warn for clients]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and not __fish_seen_subcommand_from put list get help" -l log-format -d 'Log lines on stderr as text, or as JSON objects with `service`, `component` and `endpoint` fields [env: MOVIEAPP_LOG_FORMAT; config: log.format; default: text]' -r -f -a "text\t''
json\t''"
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and not __fish_seen_subcommand_from put list get help" -s h -l help -d 'Print help'
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and not __fish_seen_subcommand_from put list get help" -s V -l version -d 'Print version'
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and not __fish_seen_subcommand_from put list get help" -f -a "put" -d 'Rate a record from 1 to 5; a user\'s new rating of a record replaces their old one'
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and not __fish_seen_subcommand_from put list get help" -f -a "list" -d 'List who rated a record and how, by user id, following pages to the end'
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and not __fish_seen_subcommand_from put list get help" -f -a "get" -d 'Show a record\'s aggregated rating: the mean over its users'
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and not __fish_seen_subcommand_from put list get help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and __fish_seen_subcommand_from put" -l user -d 'Who rates' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and __fish_seen_subcommand_from put" -l type -d 'Record type' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and __fish_seen_subcommand_from put" -l addr -d 'Address of the service this command calls (host:port) [default: a healthy instance found in the service registry, see --registry]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and __fish_seen_subcommand_from put" -s o -l output -d 'Output format' -r -f -a "table\t'A readable table'
json\t'JSON, one document per command, for scripts'"
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and __fish_seen_subcommand_from put" -l token -d 'Token to send (visible to other users in the process list: prefer MOVIEAPP_TOKEN or `movieapp login`) [env: MOVIEAPP_TOKEN; default: the one `movieapp login` kept]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and __fish_seen_subcommand_from put" -l registry -d 'Service registry: sqlite (default; <data-dir>/registry.db, shared by every movieapp on this host), memory, static (addresses from config) or consul://host:port [env: MOVIEAPP_REGISTRY; config: serviceDiscovery.backend]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and __fish_seen_subcommand_from put" -l cacert -d 'The CA to verify the services\' certificates against; given, clients speak TLS [env: MOVIEAPP_TLS_CA; config: tls.ca]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and __fish_seen_subcommand_from put" -l cert -d 'The client certificate to present under mutual TLS, with --key [env: MOVIEAPP_TLS_CLIENT_CERT; config: tls.clientCert]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and __fish_seen_subcommand_from put" -l key -d 'The client certificate\'s private key [env: MOVIEAPP_TLS_CLIENT_KEY; config: tls.clientKey]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and __fish_seen_subcommand_from put" -l config -d 'YAML configuration file (format: configs/base.yaml) [env: MOVIEAPP_CONFIG]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and __fish_seen_subcommand_from put" -l data-dir -d 'Where the services keep their data [env: MOVIEAPP_DATA_DIR; default: the platform data directory, e.g. ~/.local/share/movieapp]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and __fish_seen_subcommand_from put" -l log-level -d 'Log level (error, warn, info, debug, trace) or a filter such as `movieapp=debug`; overrides RUST_LOG [default: info for serve, warn for clients]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and __fish_seen_subcommand_from put" -l log-format -d 'Log lines on stderr as text, or as JSON objects with `service`, `component` and `endpoint` fields [env: MOVIEAPP_LOG_FORMAT; config: log.format; default: text]' -r -f -a "text\t''
json\t''"
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and __fish_seen_subcommand_from put" -s v -l verbose -d 'Print the trace id of each call that succeeds, on stderr (a failed call\'s error always ends with it), to find the call\'s log lines: `grep <trace id>`'
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and __fish_seen_subcommand_from put" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and __fish_seen_subcommand_from put" -s V -l version -d 'Print version'
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and __fish_seen_subcommand_from list" -l type -d 'Record type' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and __fish_seen_subcommand_from list" -l limit -d 'Stop after this many ratings' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and __fish_seen_subcommand_from list" -l addr -d 'Address of the service this command calls (host:port) [default: a healthy instance found in the service registry, see --registry]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and __fish_seen_subcommand_from list" -s o -l output -d 'Output format' -r -f -a "table\t'A readable table'
json\t'JSON, one document per command, for scripts'"
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and __fish_seen_subcommand_from list" -l token -d 'Token to send (visible to other users in the process list: prefer MOVIEAPP_TOKEN or `movieapp login`) [env: MOVIEAPP_TOKEN; default: the one `movieapp login` kept]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and __fish_seen_subcommand_from list" -l registry -d 'Service registry: sqlite (default; <data-dir>/registry.db, shared by every movieapp on this host), memory, static (addresses from config) or consul://host:port [env: MOVIEAPP_REGISTRY; config: serviceDiscovery.backend]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and __fish_seen_subcommand_from list" -l cacert -d 'The CA to verify the services\' certificates against; given, clients speak TLS [env: MOVIEAPP_TLS_CA; config: tls.ca]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and __fish_seen_subcommand_from list" -l cert -d 'The client certificate to present under mutual TLS, with --key [env: MOVIEAPP_TLS_CLIENT_CERT; config: tls.clientCert]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and __fish_seen_subcommand_from list" -l key -d 'The client certificate\'s private key [env: MOVIEAPP_TLS_CLIENT_KEY; config: tls.clientKey]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and __fish_seen_subcommand_from list" -l config -d 'YAML configuration file (format: configs/base.yaml) [env: MOVIEAPP_CONFIG]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and __fish_seen_subcommand_from list" -l data-dir -d 'Where the services keep their data [env: MOVIEAPP_DATA_DIR; default: the platform data directory, e.g. ~/.local/share/movieapp]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and __fish_seen_subcommand_from list" -l log-level -d 'Log level (error, warn, info, debug, trace) or a filter such as `movieapp=debug`; overrides RUST_LOG [default: info for serve, warn for clients]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and __fish_seen_subcommand_from list" -l log-format -d 'Log lines on stderr as text, or as JSON objects with `service`, `component` and `endpoint` fields [env: MOVIEAPP_LOG_FORMAT; config: log.format; default: text]' -r -f -a "text\t''
json\t''"
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and __fish_seen_subcommand_from list" -s v -l verbose -d 'Print the trace id of each call that succeeds, on stderr (a failed call\'s error always ends with it), to find the call\'s log lines: `grep <trace id>`'
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and __fish_seen_subcommand_from get" -l type -d 'Record type' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and __fish_seen_subcommand_from get" -l addr -d 'Address of the service this command calls (host:port) [default: a healthy instance found in the service registry, see --registry]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and __fish_seen_subcommand_from get" -s o -l output -d 'Output format' -r -f -a "table\t'A readable table'
json\t'JSON, one document per command, for scripts'"
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and __fish_seen_subcommand_from get" -l token -d 'Token to send (visible to other users in the process list: prefer MOVIEAPP_TOKEN or `movieapp login`) [env: MOVIEAPP_TOKEN; default: the one `movieapp login` kept]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and __fish_seen_subcommand_from get" -l registry -d 'Service registry: sqlite (default; <data-dir>/registry.db, shared by every movieapp on this host), memory, static (addresses from config) or consul://host:port [env: MOVIEAPP_REGISTRY; config: serviceDiscovery.backend]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and __fish_seen_subcommand_from get" -l cacert -d 'The CA to verify the services\' certificates against; given, clients speak TLS [env: MOVIEAPP_TLS_CA; config: tls.ca]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and __fish_seen_subcommand_from get" -l cert -d 'The client certificate to present under mutual TLS, with --key [env: MOVIEAPP_TLS_CLIENT_CERT; config: tls.clientCert]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and __fish_seen_subcommand_from get" -l key -d 'The client certificate\'s private key [env: MOVIEAPP_TLS_CLIENT_KEY; config: tls.clientKey]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and __fish_seen_subcommand_from get" -l config -d 'YAML configuration file (format: configs/base.yaml) [env: MOVIEAPP_CONFIG]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and __fish_seen_subcommand_from get" -l data-dir -d 'Where the services keep their data [env: MOVIEAPP_DATA_DIR; default: the platform data directory, e.g. ~/.local/share/movieapp]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and __fish_seen_subcommand_from get" -l log-level -d 'Log level (error, warn, info, debug, trace) or a filter such as `movieapp=debug`; overrides RUST_LOG [default: info for serve, warn for clients]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and __fish_seen_subcommand_from get" -l log-format -d 'Log lines on stderr as text, or as JSON objects with `service`, `component` and `endpoint` fields [env: MOVIEAPP_LOG_FORMAT; config: log.format; default: text]' -r -f -a "text\t''
json\t''"
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and __fish_seen_subcommand_from get" -s v -l verbose -d 'Print the trace id of each call that succeeds, on stderr (a failed call\'s error always ends with it), to find the call\'s log lines: `grep <trace id>`'
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and __fish_seen_subcommand_from get" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and __fish_seen_subcommand_from get" -s V -l version -d 'Print version'
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and __fish_seen_subcommand_from help" -f -a "put" -d 'Rate a record from 1 to 5; a user\'s new rating of a record replaces their old one'
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and __fish_seen_subcommand_from help" -f -a "list" -d 'List who rated a record and how, by user id, following pages to the end'
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and __fish_seen_subcommand_from help" -f -a "get" -d 'Show a record\'s aggregated rating: the mean over its users'
complete -c movieapp -n "__fish_movieapp_using_subcommand rate; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c movieapp -n "__fish_movieapp_using_subcommand produce" -l file -d 'Events to publish: a JSON array ({"userId","recordId","recordType","value", "providerId","eventType"}) or one JSON event per line' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand produce" -l topic -d 'Topic to publish to' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand produce" -l generate -d 'Publish N synthetic valid events instead of a file (for load tests)' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand produce" -l seed -d 'Seed of --generate: the same seed gives the same events' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand produce" -l users -d 'Distinct users in --generate' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand produce" -l records -d 'Distinct records (movies) in --generate' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand produce" -l hot -d 'Percent of --generate\'s events that rate record 1, a best seller (0: every record alike)' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand produce" -s o -l output -d 'Output format of the summary' -r -f -a "table\t'A readable table'
json\t'JSON, one document per command, for scripts'"
complete -c movieapp -n "__fish_movieapp_using_subcommand produce" -l broker -d 'Rating feed broker: sqlite (default; <data-dir>/broker.db, embedded) or kafka://host:9092[,host2:9092] [env: MOVIEAPP_BROKER; config: broker.backend]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand produce" -l config -d 'YAML configuration file (format: configs/base.yaml) [env: MOVIEAPP_CONFIG]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand produce" -l data-dir -d 'Where the services keep their data [env: MOVIEAPP_DATA_DIR; default: the platform data directory, e.g. ~/.local/share/movieapp]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand produce" -l log-level -d 'Log level (error, warn, info, debug, trace) or a filter such as `movieapp=debug`; overrides RUST_LOG [default: info for serve, warn for clients]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand produce" -l log-format -d 'Log lines on stderr as text, or as JSON objects with `service`, `component` and `endpoint` fields [env: MOVIEAPP_LOG_FORMAT; config: log.format; default: text]' -r -f -a "text\t''
json\t''"
complete -c movieapp -n "__fish_movieapp_using_subcommand produce" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c movieapp -n "__fish_movieapp_using_subcommand produce" -s V -l version -d 'Print version'
complete -c movieapp -n "__fish_movieapp_using_subcommand profile" -l addr -d 'The service\'s address (host:port)' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand profile" -l seconds -d 'How long to sample, 1 to 300' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand profile" -s o -l output -d 'Where to write it: a .svg file gets a flame graph, anything else pprof\'s protobuf (gzipped, e.g. cpu.pb.gz)' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand profile" -l token -d 'Token to send [env: MOVIEAPP_TOKEN; default: the one `movieapp login` kept]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand profile" -l cacert -d 'The CA to verify the services\' certificates against; given, clients speak TLS [env: MOVIEAPP_TLS_CA; config: tls.ca]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand profile" -l cert -d 'The client certificate to present under mutual TLS, with --key [env: MOVIEAPP_TLS_CLIENT_CERT; config: tls.clientCert]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand profile" -l key -d 'The client certificate\'s private key [env: MOVIEAPP_TLS_CLIENT_KEY; config: tls.clientKey]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand profile" -l config -d 'YAML configuration file (format: configs/base.yaml) [env: MOVIEAPP_CONFIG]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand profile" -l data-dir -d 'Where the services keep their data [env: MOVIEAPP_DATA_DIR; default: the platform data directory, e.g. ~/.local/share/movieapp]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand profile" -l log-level -d 'Log level (error, warn, info, debug, trace) or a filter such as `movieapp=debug`; overrides RUST_LOG [default: info for serve, warn for clients]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand profile" -l log-format -d 'Log lines on stderr as text, or as JSON objects with `service`, `component` and `endpoint` fields [env: MOVIEAPP_LOG_FORMAT; config: log.format; default: text]' -r -f -a "text\t''
json\t''"
complete -c movieapp -n "__fish_movieapp_using_subcommand profile" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c movieapp -n "__fish_movieapp_using_subcommand profile" -s V -l version -d 'Print version'
complete -c movieapp -n "__fish_movieapp_using_subcommand feed; and not __fish_seen_subcommand_from status tail help" -l broker -d 'Rating feed broker: sqlite (default; <data-dir>/broker.db, embedded) or kafka://host:9092[,host2:9092] [env: MOVIEAPP_BROKER; config: broker.backend]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand feed; and not __fish_seen_subcommand_from status tail help" -l config -d 'YAML configuration file (format: configs/base.yaml) [env: MOVIEAPP_CONFIG]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand feed; and not __fish_seen_subcommand_from status tail help" -l data-dir -d 'Where the services keep their data [env: MOVIEAPP_DATA_DIR; default: the platform data directory, e.g. ~/.local/share/movieapp]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand feed; and not __fish_seen_subcommand_from status tail help" -l log-level -d 'Log level (error, warn, info, debug, trace) or a filter such as `movieapp=debug`; overrides RUST_LOG [default: info for serve, warn for clients]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand feed; and not __fish_seen_subcommand_from status tail help" -l log-format -d 'Log lines on stderr as text, or as JSON objects with `service`, `component` and `endpoint` fields [env: MOVIEAPP_LOG_FORMAT; config: log.format; default: text]' -r -f -a "text\t''
json\t''"
complete -c movieapp -n "__fish_movieapp_using_subcommand feed; and not __fish_seen_subcommand_from status tail help" -s h -l help -d 'Print help'
complete -c movieapp -n "__fish_movieapp_using_subcommand feed; and not __fish_seen_subcommand_from status tail help" -s V -l version -d 'Print version'
complete -c movieapp -n "__fish_movieapp_using_subcommand feed; and not __fish_seen_subcommand_from status tail help" -f -a "status" -d 'Consumer lag: per partition, the end of the topic, the rating service\'s committed offset and how far behind it is; and how many events were dead-lettered'
complete -c movieapp -n "__fish_movieapp_using_subcommand feed; and not __fish_seen_subcommand_from status tail help" -f -a "tail" -d 'Follow a topic as `tail -f` follows a file: each record as it is published, until Ctrl-C. E.g. `movieapp feed tail rating-changes -o json | jq .userId`'
complete -c movieapp -n "__fish_movieapp_using_subcommand feed; and not __fish_seen_subcommand_from status tail help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c movieapp -n "__fish_movieapp_using_subcommand feed; and __fish_seen_subcommand_from status" -l topic -d 'Topic' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand feed; and __fish_seen_subcommand_from status" -l group -d 'Consumer group' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand feed; and __fish_seen_subcommand_from status" -s o -l output -r -f -a "table\t'A readable table'
json\t'JSON, one document per command, for scripts'"
complete -c movieapp -n "__fish_movieapp_using_subcommand feed; and __fish_seen_subcommand_from status" -l broker -d 'Rating feed broker: sqlite (default; <data-dir>/broker.db, embedded) or kafka://host:9092[,host2:9092] [env: MOVIEAPP_BROKER; config: broker.backend]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand feed; and __fish_seen_subcommand_from status" -l config -d 'YAML configuration file (format: configs/base.yaml) [env: MOVIEAPP_CONFIG]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand feed; and __fish_seen_subcommand_from status" -l data-dir -d 'Where the services keep their data [env: MOVIEAPP_DATA_DIR; default: the platform data directory, e.g. ~/.local/share/movieapp]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand feed; and __fish_seen_subcommand_from status" -l log-level -d 'Log level (error, warn, info, debug, trace) or a filter such as `movieapp=debug`; overrides RUST_LOG [default: info for serve, warn for clients]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand feed; and __fish_seen_subcommand_from status" -l log-format -d 'Log lines on stderr as text, or as JSON objects with `service`, `component` and `endpoint` fields [env: MOVIEAPP_LOG_FORMAT; config: log.format; default: text]' -r -f -a "text\t''
json\t''"
complete -c movieapp -n "__fish_movieapp_using_subcommand feed; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c movieapp -n "__fish_movieapp_using_subcommand feed; and __fish_seen_subcommand_from status" -s V -l version -d 'Print version'
complete -c movieapp -n "__fish_movieapp_using_subcommand feed; and __fish_seen_subcommand_from tail" -s o -l output -d 'table: partition:offset, key and payload on one line; json: each payload as a JSON line (a payload that is not JSON, as a string)' -r -f -a "table\t'A readable table'
json\t'JSON, one document per command, for scripts'"
complete -c movieapp -n "__fish_movieapp_using_subcommand feed; and __fish_seen_subcommand_from tail" -l broker -d 'Rating feed broker: sqlite (default; <data-dir>/broker.db, embedded) or kafka://host:9092[,host2:9092] [env: MOVIEAPP_BROKER; config: broker.backend]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand feed; and __fish_seen_subcommand_from tail" -l config -d 'YAML configuration file (format: configs/base.yaml) [env: MOVIEAPP_CONFIG]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand feed; and __fish_seen_subcommand_from tail" -l data-dir -d 'Where the services keep their data [env: MOVIEAPP_DATA_DIR; default: the platform data directory, e.g. ~/.local/share/movieapp]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand feed; and __fish_seen_subcommand_from tail" -l log-level -d 'Log level (error, warn, info, debug, trace) or a filter such as `movieapp=debug`; overrides RUST_LOG [default: info for serve, warn for clients]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand feed; and __fish_seen_subcommand_from tail" -l log-format -d 'Log lines on stderr as text, or as JSON objects with `service`, `component` and `endpoint` fields [env: MOVIEAPP_LOG_FORMAT; config: log.format; default: text]' -r -f -a "text\t''
json\t''"
complete -c movieapp -n "__fish_movieapp_using_subcommand feed; and __fish_seen_subcommand_from tail" -l from-beginning -d 'Start at the topic\'s first record, not at its end'
complete -c movieapp -n "__fish_movieapp_using_subcommand feed; and __fish_seen_subcommand_from tail" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c movieapp -n "__fish_movieapp_using_subcommand feed; and __fish_seen_subcommand_from tail" -s V -l version -d 'Print version'
complete -c movieapp -n "__fish_movieapp_using_subcommand feed; and __fish_seen_subcommand_from help" -f -a "status" -d 'Consumer lag: per partition, the end of the topic, the rating service\'s committed offset and how far behind it is; and how many events were dead-lettered'
complete -c movieapp -n "__fish_movieapp_using_subcommand feed; and __fish_seen_subcommand_from help" -f -a "tail" -d 'Follow a topic as `tail -f` follows a file: each record as it is published, until Ctrl-C. E.g. `movieapp feed tail rating-changes -o json | jq .userId`'
complete -c movieapp -n "__fish_movieapp_using_subcommand feed; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c movieapp -n "__fish_movieapp_using_subcommand registry; and not __fish_seen_subcommand_from list show watch deregister help" -l registry -d 'Service registry: sqlite (default; <data-dir>/registry.db, shared by every movieapp on this host), memory, static (addresses from config) or consul://host:port [env: MOVIEAPP_REGISTRY; config: serviceDiscovery.backend]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand registry; and not __fish_seen_subcommand_from list show watch deregister help" -l config -d 'YAML configuration file (format: configs/base.yaml) [env: MOVIEAPP_CONFIG]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand registry; and not __fish_seen_subcommand_from list show watch deregister help" -l data-dir -d 'Where the services keep their data [env: MOVIEAPP_DATA_DIR; default: the platform data directory, e.g. ~/.local/share/movieapp]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand registry; and not __fish_seen_subcommand_from list show watch deregister help" -l log-level -d 'Log level (error, warn, info, debug, trace) or a filter such as `movieapp=debug`; overrides RUST_LOG [default: info for serve, warn for clients]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand registry; and not __fish_seen_subcommand_from list show watch deregister help" -l log-format -d 'Log lines on stderr as text, or as JSON objects with `service`, `component` and `endpoint` fields [env: MOVIEAPP_LOG_FORMAT; config: log.format; default: text]' -r -f -a "text\t''
json\t''"
complete -c movieapp -n "__fish_movieapp_using_subcommand registry; and not __fish_seen_subcommand_from list show watch deregister help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c movieapp -n "__fish_movieapp_using_subcommand registry; and not __fish_seen_subcommand_from list show watch deregister help" -s V -l version -d 'Print version'
complete -c movieapp -n "__fish_movieapp_using_subcommand registry; and not __fish_seen_subcommand_from list show watch deregister help" -f -a "list" -d 'Every instance of every service: address, health, age of the last heartbeat'
complete -c movieapp -n "__fish_movieapp_using_subcommand registry; and not __fish_seen_subcommand_from list show watch deregister help" -f -a "show" -d 'The instances of one service'
complete -c movieapp -n "__fish_movieapp_using_subcommand registry; and not __fish_seen_subcommand_from list show watch deregister help" -f -a "watch" -d 'Show the list, refreshed until Ctrl-C'
complete -c movieapp -n "__fish_movieapp_using_subcommand registry; and not __fish_seen_subcommand_from list show watch deregister help" -f -a "deregister" -d 'Remove an instance, e.g. one that was killed. A live instance registers itself again at its next heartbeat'
complete -c movieapp -n "__fish_movieapp_using_subcommand registry; and not __fish_seen_subcommand_from list show watch deregister help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c movieapp -n "__fish_movieapp_using_subcommand registry; and __fish_seen_subcommand_from list" -s o -l output -r -f -a "table\t'A readable table'
json\t'JSON, one document per command, for scripts'"
complete -c movieapp -n "__fish_movieapp_using_subcommand registry; and __fish_seen_subcommand_from list" -l registry -d 'Service registry: sqlite (default; <data-dir>/registry.db, shared by every movieapp on this host), memory, static (addresses from config) or consul://host:port [env: MOVIEAPP_REGISTRY; config: serviceDiscovery.backend]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand registry; and __fish_seen_subcommand_from list" -l config -d 'YAML configuration file (format: configs/base.yaml) [env: MOVIEAPP_CONFIG]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand registry; and __fish_seen_subcommand_from list" -l data-dir -d 'Where the services keep their data [env: MOVIEAPP_DATA_DIR; default: the platform data directory, e.g. ~/.local/share/movieapp]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand registry; and __fish_seen_subcommand_from list" -l log-level -d 'Log level (error, warn, info, debug, trace) or a filter such as `movieapp=debug`; overrides RUST_LOG [default: info for serve, warn for clients]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand registry; and __fish_seen_subcommand_from list" -l log-format -d 'Log lines on stderr as text, or as JSON objects with `service`, `component` and `endpoint` fields [env: MOVIEAPP_LOG_FORMAT; config: log.format; default: text]' -r -f -a "text\t''
json\t''"
complete -c movieapp -n "__fish_movieapp_using_subcommand registry; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c movieapp -n "__fish_movieapp_using_subcommand registry; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c movieapp -n "__fish_movieapp_using_subcommand registry; and __fish_seen_subcommand_from show" -s o -l output -r -f -a "table\t'A readable table'
json\t'JSON, one document per command, for scripts'"
complete -c movieapp -n "__fish_movieapp_using_subcommand registry; and __fish_seen_subcommand_from show" -l registry -d 'Service registry: sqlite (default; <data-dir>/registry.db, shared by every movieapp on this host), memory, static (addresses from config) or consul://host:port [env: MOVIEAPP_REGISTRY; config: serviceDiscovery.backend]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand registry; and __fish_seen_subcommand_from show" -l config -d 'YAML configuration file (format: configs/base.yaml) [env: MOVIEAPP_CONFIG]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand registry; and __fish_seen_subcommand_from show" -l data-dir -d 'Where the services keep their data [env: MOVIEAPP_DATA_DIR; default: the platform data directory, e.g. ~/.local/share/movieapp]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand registry; and __fish_seen_subcommand_from show" -l log-level -d 'Log level (error, warn, info, debug, trace) or a filter such as `movieapp=debug`; overrides RUST_LOG [default: info for serve, warn for clients]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand registry; and __fish_seen_subcommand_from show" -l log-format -d 'Log lines on stderr as text, or as JSON objects with `service`, `component` and `endpoint` fields [env: MOVIEAPP_LOG_FORMAT; config: log.format; default: text]' -r -f -a "text\t''
json\t''"
complete -c movieapp -n "__fish_movieapp_using_subcommand registry; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c movieapp -n "__fish_movieapp_using_subcommand registry; and __fish_seen_subcommand_from show" -s V -l version -d 'Print version'
complete -c movieapp -n "__fish_movieapp_using_subcommand registry; and __fish_seen_subcommand_from watch" -l interval -d 'How often to refresh, e.g. 500ms or 2s' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand registry; and __fish_seen_subcommand_from watch" -s o -l output -d 'Output format (json: one document per line per refresh)' -r -f -a "table\t'A readable table'
json\t'JSON, one document per command, for scripts'"
complete -c movieapp -n "__fish_movieapp_using_subcommand registry; and __fish_seen_subcommand_from watch" -l registry -d 'Service registry: sqlite (default; <data-dir>/registry.db, shared by every movieapp on this host), memory, static (addresses from config) or consul://host:port [env: MOVIEAPP_REGISTRY; config: serviceDiscovery.backend]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand registry; and __fish_seen_subcommand_from watch" -l config -d 'YAML configuration file (format: configs/base.yaml) [env: MOVIEAPP_CONFIG]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand registry; and __fish_seen_subcommand_from watch" -l data-dir -d 'Where the services keep their data [env: MOVIEAPP_DATA_DIR; default: the platform data directory, e.g. ~/.local/share/movieapp]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand registry; and __fish_seen_subcommand_from watch" -l log-level -d 'Log level (error, warn, info, debug, trace) or a filter such as `movieapp=debug`; overrides RUST_LOG [default: info for serve, warn for clients]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand registry; and __fish_seen_subcommand_from watch" -l log-format -d 'Log lines on stderr as text, or as JSON objects with `service`, `component` and `endpoint` fields [env: MOVIEAPP_LOG_FORMAT; config: log.format; default: text]' -r -f -a "text\t''
json\t''"
complete -c movieapp -n "__fish_movieapp_using_subcommand registry; and __fish_seen_subcommand_from watch" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c movieapp -n "__fish_movieapp_using_subcommand registry; and __fish_seen_subcommand_from watch" -s V -l version -d 'Print version'
complete -c movieapp -n "__fish_movieapp_using_subcommand registry; and __fish_seen_subcommand_from deregister" -s o -l output -r -f -a "table\t'A readable table'
json\t'JSON, one document per command, for scripts'"
complete -c movieapp -n "__fish_movieapp_using_subcommand registry; and __fish_seen_subcommand_from deregister" -l registry -d 'Service registry: sqlite (default; <data-dir>/registry.db, shared by every movieapp on this host), memory, static (addresses from config) or consul://host:port [env: MOVIEAPP_REGISTRY; config: serviceDiscovery.backend]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand registry; and __fish_seen_subcommand_from deregister" -l config -d 'YAML configuration file (format: configs/base.yaml) [env: MOVIEAPP_CONFIG]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand registry; and __fish_seen_subcommand_from deregister" -l data-dir -d 'Where the services keep their data [env: MOVIEAPP_DATA_DIR; default: the platform data directory, e.g. ~/.local/share/movieapp]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand registry; and __fish_seen_subcommand_from deregister" -l log-level -d 'Log level (error, warn, info, debug, trace) or a filter such as `movieapp=debug`; overrides RUST_LOG [default: info for serve, warn for clients]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand registry; and __fish_seen_subcommand_from deregister" -l log-format -d 'Log lines on stderr as text, or as JSON objects with `service`, `component` and `endpoint` fields [env: MOVIEAPP_LOG_FORMAT; config: log.format; default: text]' -r -f -a "text\t''
json\t''"
complete -c movieapp -n "__fish_movieapp_using_subcommand registry; and __fish_seen_subcommand_from deregister" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c movieapp -n "__fish_movieapp_using_subcommand registry; and __fish_seen_subcommand_from deregister" -s V -l version -d 'Print version'
complete -c movieapp -n "__fish_movieapp_using_subcommand registry; and __fish_seen_subcommand_from help" -f -a "list" -d 'Every instance of every service: address, health, age of the last heartbeat'
complete -c movieapp -n "__fish_movieapp_using_subcommand registry; and __fish_seen_subcommand_from help" -f -a "show" -d 'The instances of one service'
complete -c movieapp -n "__fish_movieapp_using_subcommand registry; and __fish_seen_subcommand_from help" -f -a "watch" -d 'Show the list, refreshed until Ctrl-C'
complete -c movieapp -n "__fish_movieapp_using_subcommand registry; and __fish_seen_subcommand_from help" -f -a "deregister" -d 'Remove an instance, e.g. one that was killed. A live instance registers itself again at its next heartbeat'
complete -c movieapp -n "__fish_movieapp_using_subcommand registry; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c movieapp -n "__fish_movieapp_using_subcommand auth; and not __fish_seen_subcommand_from user key token help" -l config -d 'YAML configuration file (format: configs/base.yaml) [env: MOVIEAPP_CONFIG]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand auth; and not __fish_seen_subcommand_from user key token help" -l data-dir -d 'Where the services keep their data [env: MOVIEAPP_DATA_DIR; default: the platform data directory, e.g. ~/.local/share/movieapp]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand auth; and not __fish_seen_subcommand_from user key token help" -l log-level -d 'Log level (error, warn, info, debug, trace) or a filter such as `movieapp=debug`; overrides RUST_LOG [default: info for serve, warn for clients]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand auth; and not __fish_seen_subcommand_from user key token help" -l log-format -d 'Log lines on stderr as text, or as JSON objects with `service`, `component` and `endpoint` fields [env: MOVIEAPP_LOG_FORMAT; config: log.format; default: text]' -r -f -a "text\t''
json\t''"
complete -c movieapp -n "__fish_movieapp_using_subcommand auth; and not __fish_seen_subcommand_from user key token help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c movieapp -n "__fish_movieapp_using_subcommand auth; and not __fish_seen_subcommand_from user key token help" -s V -l version -d 'Print version'
complete -c movieapp -n "__fish_movieapp_using_subcommand auth; and not __fish_seen_subcommand_from user key token help" -f -a "user" -d 'Users: add, list, change passwords, remove'
complete -c movieapp -n "__fish_movieapp_using_subcommand auth; and not __fish_seen_subcommand_from user key token help" -f -a "key" -d 'Signing keys: list, rotate'
complete -c movieapp -n "__fish_movieapp_using_subcommand auth; and not __fish_seen_subcommand_from user key token help" -f -a "token" -d 'Print the token `movieapp login` kept (or MOVIEAPP_TOKEN), for curl and grpcurl: curl -H "authorization: Bearer $(movieapp auth token)" …'
complete -c movieapp -n "__fish_movieapp_using_subcommand auth; and not __fish_seen_subcommand_from user key token help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c movieapp -n "__fish_movieapp_using_subcommand auth; and __fish_seen_subcommand_from user" -l config -d 'YAML configuration file (format: configs/base.yaml) [env: MOVIEAPP_CONFIG]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand auth; and __fish_seen_subcommand_from user" -l data-dir -d 'Where the services keep their data [env: MOVIEAPP_DATA_DIR; default: the platform data directory, e.g. ~/.local/share/movieapp]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand auth; and __fish_seen_subcommand_from user" -l log-level -d 'Log level (error, warn, info, debug, trace) or a filter such as `movieapp=debug`; overrides RUST_LOG [default: info for serve, warn for clients]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand auth; and __fish_seen_subcommand_from user" -l log-format -d 'Log lines on stderr as text, or as JSON objects with `service`, `component` and `endpoint` fields [env: MOVIEAPP_LOG_FORMAT; config: log.format; default: text]' -r -f -a "text\t''
json\t''"
complete -c movieapp -n "__fish_movieapp_using_subcommand auth; and __fish_seen_subcommand_from user" -s h -l help -d 'Print help'
complete -c movieapp -n "__fish_movieapp_using_subcommand auth; and __fish_seen_subcommand_from user" -s V -l version -d 'Print version'
complete -c movieapp -n "__fish_movieapp_using_subcommand auth; and __fish_seen_subcommand_from user" -f -a "add" -d 'Add a user (the password: at least 8 characters)'
complete -c movieapp -n "__fish_movieapp_using_subcommand auth; and __fish_seen_subcommand_from user" -f -a "list" -d 'Every user, with role and dates (never a password or hash)'
complete -c movieapp -n "__fish_movieapp_using_subcommand auth; and __fish_seen_subcommand_from user" -f -a "passwd" -d 'Set a user\'s password'
complete -c movieapp -n "__fish_movieapp_using_subcommand auth; and __fish_seen_subcommand_from user" -f -a "remove" -d 'Remove a user; tokens already issued stay valid until they expire'
complete -c movieapp -n "__fish_movieapp_using_subcommand auth; and __fish_seen_subcommand_from user" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c movieapp -n "__fish_movieapp_using_subcommand auth; and __fish_seen_subcommand_from key" -l config -d 'YAML configuration file (format: configs/base.yaml) [env: MOVIEAPP_CONFIG]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand auth; and __fish_seen_subcommand_from key" -l data-dir -d 'Where the services keep their data [env: MOVIEAPP_DATA_DIR; default: the platform data directory, e.g. ~/.local/share/movieapp]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand auth; and __fish_seen_subcommand_from key" -l log-level -d 'Log level (error, warn, info, debug, trace) or a filter such as `movieapp=debug`; overrides RUST_LOG [default: info for serve, warn for clients]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand auth; and __fish_seen_subcommand_from key" -l log-format -d 'Log lines on stderr as text, or as JSON objects with `service`, `component` and `endpoint` fields [env: MOVIEAPP_LOG_FORMAT; config: log.format; default: text]' -r -f -a "text\t''
json\t''"
complete -c movieapp -n "__fish_movieapp_using_subcommand auth; and __fish_seen_subcommand_from key" -s h -l help -d 'Print help'
complete -c movieapp -n "__fish_movieapp_using_subcommand auth; and __fish_seen_subcommand_from key" -s V -l version -d 'Print version'
complete -c movieapp -n "__fish_movieapp_using_subcommand auth; and __fish_seen_subcommand_from key" -f -a "list" -d 'The key tokens are signed with and the previous one, by key id (kid)'
complete -c movieapp -n "__fish_movieapp_using_subcommand auth; and __fish_seen_subcommand_from key" -f -a "rotate" -d 'Make a new signing key; the current one becomes the previous and keeps verifying the tokens it signed, the one before it is dropped. A running auth service picks the new key up within seconds; services elsewhere fetch it when they first see a token signed with it'
complete -c movieapp -n "__fish_movieapp_using_subcommand auth; and __fish_seen_subcommand_from key" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c movieapp -n "__fish_movieapp_using_subcommand auth; and __fish_seen_subcommand_from token" -l config -d 'YAML configuration file (format: configs/base.yaml) [env: MOVIEAPP_CONFIG]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand auth; and __fish_seen_subcommand_from token" -l data-dir -d 'Where the services keep their data [env: MOVIEAPP_DATA_DIR; default: the platform data directory, e.g. ~/.local/share/movieapp]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand auth; and __fish_seen_subcommand_from token" -l log-level -d 'Log level (error, warn, info, debug, trace) or a filter such as `movieapp=debug`; overrides RUST_LOG [default: info for serve, warn for clients]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand auth; and __fish_seen_subcommand_from token" -l log-format -d 'Log lines on stderr as text, or as JSON objects with `service`, `component` and `endpoint` fields [env: MOVIEAPP_LOG_FORMAT; config: log.format; default: text]' -r -f -a "text\t''
json\t''"
complete -c movieapp -n "__fish_movieapp_using_subcommand auth; and __fish_seen_subcommand_from token" -s h -l help -d 'Print help'
complete -c movieapp -n "__fish_movieapp_using_subcommand auth; and __fish_seen_subcommand_from token" -s V -l version -d 'Print version'
complete -c movieapp -n "__fish_movieapp_using_subcommand auth; and __fish_seen_subcommand_from help" -f -a "user" -d 'Users: add, list, change passwords, remove'
complete -c movieapp -n "__fish_movieapp_using_subcommand auth; and __fish_seen_subcommand_from help" -f -a "key" -d 'Signing keys: list, rotate'
complete -c movieapp -n "__fish_movieapp_using_subcommand auth; and __fish_seen_subcommand_from help" -f -a "token" -d 'Print the token `movieapp login` kept (or MOVIEAPP_TOKEN), for curl and grpcurl: curl -H "authorization: Bearer $(movieapp auth token)" …'
complete -c movieapp -n "__fish_movieapp_using_subcommand auth; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c movieapp -n "__fish_movieapp_using_subcommand login" -l user -d 'The user to log in as' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand login" -l addr -d 'Address of the auth service (host:port) [default: found through the registry, e.g. 127.0.0.1:8084]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand login" -l registry -d 'Service registry: sqlite (default; <data-dir>/registry.db, shared by every movieapp on this host), memory, static (addresses from config) or consul://host:port [env: MOVIEAPP_REGISTRY; config: serviceDiscovery.backend]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand login" -l cacert -d 'The CA to verify the services\' certificates against; given, clients speak TLS [env: MOVIEAPP_TLS_CA; config: tls.ca]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand login" -l cert -d 'The client certificate to present under mutual TLS, with --key [env: MOVIEAPP_TLS_CLIENT_CERT; config: tls.clientCert]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand login" -l key -d 'The client certificate\'s private key [env: MOVIEAPP_TLS_CLIENT_KEY; config: tls.clientKey]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand login" -l config -d 'YAML configuration file (format: configs/base.yaml) [env: MOVIEAPP_CONFIG]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand login" -l data-dir -d 'Where the services keep their data [env: MOVIEAPP_DATA_DIR; default: the platform data directory, e.g. ~/.local/share/movieapp]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand login" -l log-level -d 'Log level (error, warn, info, debug, trace) or a filter such as `movieapp=debug`; overrides RUST_LOG [default: info for serve, warn for clients]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand login" -l log-format -d 'Log lines on stderr as text, or as JSON objects with `service`, `component` and `endpoint` fields [env: MOVIEAPP_LOG_FORMAT; config: log.format; default: text]' -r -f -a "text\t''
json\t''"
complete -c movieapp -n "__fish_movieapp_using_subcommand login" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c movieapp -n "__fish_movieapp_using_subcommand login" -s V -l version -d 'Print version'
complete -c movieapp -n "__fish_movieapp_using_subcommand logout" -l config -d 'YAML configuration file (format: configs/base.yaml) [env: MOVIEAPP_CONFIG]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand logout" -l data-dir -d 'Where the services keep their data [env: MOVIEAPP_DATA_DIR; default: the platform data directory, e.g. ~/.local/share/movieapp]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand logout" -l log-level -d 'Log level (error, warn, info, debug, trace) or a filter such as `movieapp=debug`; overrides RUST_LOG [default: info for serve, warn for clients]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand logout" -l log-format -d 'Log lines on stderr as text, or as JSON objects with `service`, `component` and `endpoint` fields [env: MOVIEAPP_LOG_FORMAT; config: log.format; default: text]' -r -f -a "text\t''
json\t''"
complete -c movieapp -n "__fish_movieapp_using_subcommand logout" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c movieapp -n "__fish_movieapp_using_subcommand logout" -s V -l version -d 'Print version'
complete -c movieapp -n "__fish_movieapp_using_subcommand lock; and not __fish_seen_subcommand_from run status help" -l cacert -d 'The CA to verify the services\' certificates against; given, clients speak TLS [env: MOVIEAPP_TLS_CA; config: tls.ca]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand lock; and not __fish_seen_subcommand_from run status help" -l cert -d 'The client certificate to present under mutual TLS, with --key [env: MOVIEAPP_TLS_CLIENT_CERT; config: tls.clientCert]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand lock; and not __fish_seen_subcommand_from run status help" -l key -d 'The client certificate\'s private key [env: MOVIEAPP_TLS_CLIENT_KEY; config: tls.clientKey]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand lock; and not __fish_seen_subcommand_from run status help" -l config -d 'YAML configuration file (format: configs/base.yaml) [env: MOVIEAPP_CONFIG]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand lock; and not __fish_seen_subcommand_from run status help" -l data-dir -d 'Where the services keep their data [env: MOVIEAPP_DATA_DIR; default: the platform data directory, e.g. ~/.local/share/movieapp]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand lock; and not __fish_seen_subcommand_from run status help" -l log-level -d 'Log level (error, warn, info, debug, trace) or a filter such as `movieapp=debug`; overrides RUST_LOG [default: info for serve, warn for clients]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand lock; and not __fish_seen_subcommand_from run status help" -l log-format -d 'Log lines on stderr as text, or as JSON objects with `service`, `component` and `endpoint` fields [env: MOVIEAPP_LOG_FORMAT; config: log.format; default: text]' -r -f -a "text\t''
json\t''"
complete -c movieapp -n "__fish_movieapp_using_subcommand lock; and not __fish_seen_subcommand_from run status help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c movieapp -n "__fish_movieapp_using_subcommand lock; and not __fish_seen_subcommand_from run status help" -s V -l version -d 'Print version'
complete -c movieapp -n "__fish_movieapp_using_subcommand lock; and not __fish_seen_subcommand_from run status help" -f -a "run" -d 'Run CMD while holding KEY, like `consul lock`'
complete -c movieapp -n "__fish_movieapp_using_subcommand lock; and not __fish_seen_subcommand_from run status help" -f -a "status" -d 'Every lock: its holder, fencing token and expiry'
complete -c movieapp -n "__fish_movieapp_using_subcommand lock; and not __fish_seen_subcommand_from run status help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c movieapp -n "__fish_movieapp_using_subcommand lock; and __fish_seen_subcommand_from run" -l timeout -d 'How long to wait for the lock, e.g. 30s; 0s: only if it is free now [default: wait as long as it takes]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand lock; and __fish_seen_subcommand_from run" -l holder -d 'Who holds it, as `lock status` shows [default: lock-run-PID@HOST]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand lock; and __fish_seen_subcommand_from run" -l cacert -d 'The CA to verify the services\' certificates against; given, clients speak TLS [env: MOVIEAPP_TLS_CA; config: tls.ca]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand lock; and __fish_seen_subcommand_from run" -l cert -d 'The client certificate to present under mutual TLS, with --key [env: MOVIEAPP_TLS_CLIENT_CERT; config: tls.clientCert]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand lock; and __fish_seen_subcommand_from run" -l key -d 'The client certificate\'s private key [env: MOVIEAPP_TLS_CLIENT_KEY; config: tls.clientKey]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand lock; and __fish_seen_subcommand_from run" -l config -d 'YAML configuration file (format: configs/base.yaml) [env: MOVIEAPP_CONFIG]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand lock; and __fish_seen_subcommand_from run" -l data-dir -d 'Where the services keep their data [env: MOVIEAPP_DATA_DIR; default: the platform data directory, e.g. ~/.local/share/movieapp]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand lock; and __fish_seen_subcommand_from run" -l log-level -d 'Log level (error, warn, info, debug, trace) or a filter such as `movieapp=debug`; overrides RUST_LOG [default: info for serve, warn for clients]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand lock; and __fish_seen_subcommand_from run" -l log-format -d 'Log lines on stderr as text, or as JSON objects with `service`, `component` and `endpoint` fields [env: MOVIEAPP_LOG_FORMAT; config: log.format; default: text]' -r -f -a "text\t''
json\t''"
complete -c movieapp -n "__fish_movieapp_using_subcommand lock; and __fish_seen_subcommand_from run" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c movieapp -n "__fish_movieapp_using_subcommand lock; and __fish_seen_subcommand_from run" -s V -l version -d 'Print version'
complete -c movieapp -n "__fish_movieapp_using_subcommand lock; and __fish_seen_subcommand_from status" -s o -l output -r -f -a "table\t'A readable table'
json\t'JSON, one document per command, for scripts'"
complete -c movieapp -n "__fish_movieapp_using_subcommand lock; and __fish_seen_subcommand_from status" -l cacert -d 'The CA to verify the services\' certificates against; given, clients speak TLS [env: MOVIEAPP_TLS_CA; config: tls.ca]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand lock; and __fish_seen_subcommand_from status" -l cert -d 'The client certificate to present under mutual TLS, with --key [env: MOVIEAPP_TLS_CLIENT_CERT; config: tls.clientCert]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand lock; and __fish_seen_subcommand_from status" -l key -d 'The client certificate\'s private key [env: MOVIEAPP_TLS_CLIENT_KEY; config: tls.clientKey]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand lock; and __fish_seen_subcommand_from status" -l config -d 'YAML configuration file (format: configs/base.yaml) [env: MOVIEAPP_CONFIG]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand lock; and __fish_seen_subcommand_from status" -l data-dir -d 'Where the services keep their data [env: MOVIEAPP_DATA_DIR; default: the platform data directory, e.g. ~/.local/share/movieapp]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand lock; and __fish_seen_subcommand_from status" -l log-level -d 'Log level (error, warn, info, debug, trace) or a filter such as `movieapp=debug`; overrides RUST_LOG [default: info for serve, warn for clients]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand lock; and __fish_seen_subcommand_from status" -l log-format -d 'Log lines on stderr as text, or as JSON objects with `service`, `component` and `endpoint` fields [env: MOVIEAPP_LOG_FORMAT; config: log.format; default: text]' -r -f -a "text\t''
json\t''"
complete -c movieapp -n "__fish_movieapp_using_subcommand lock; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c movieapp -n "__fish_movieapp_using_subcommand lock; and __fish_seen_subcommand_from status" -s V -l version -d 'Print version'
complete -c movieapp -n "__fish_movieapp_using_subcommand lock; and __fish_seen_subcommand_from help" -f -a "run" -d 'Run CMD while holding KEY, like `consul lock`'
complete -c movieapp -n "__fish_movieapp_using_subcommand lock; and __fish_seen_subcommand_from help" -f -a "status" -d 'Every lock: its holder, fencing token and expiry'
complete -c movieapp -n "__fish_movieapp_using_subcommand lock; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c movieapp -n "__fish_movieapp_using_subcommand health" -l addr -d 'The server\'s address (host:port)' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand health" -l service -d 'The gRPC service to ask about: its gRPC name (e.g. MovieService) or movieapp\'s name for it (metadata, rating, movie, auth); empty: the server as a whole' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand health" -l timeout -d 'How long to wait for the answer, connection included' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand health" -l cacert -d 'The CA to verify the services\' certificates against; given, clients speak TLS [env: MOVIEAPP_TLS_CA; config: tls.ca]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand health" -l cert -d 'The client certificate to present under mutual TLS, with --key [env: MOVIEAPP_TLS_CLIENT_CERT; config: tls.clientCert]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand health" -l key -d 'The client certificate\'s private key [env: MOVIEAPP_TLS_CLIENT_KEY; config: tls.clientKey]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand health" -l config -d 'YAML configuration file (format: configs/base.yaml) [env: MOVIEAPP_CONFIG]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand health" -l data-dir -d 'Where the services keep their data [env: MOVIEAPP_DATA_DIR; default: the platform data directory, e.g. ~/.local/share/movieapp]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand health" -l log-level -d 'Log level (error, warn, info, debug, trace) or a filter such as `movieapp=debug`; overrides RUST_LOG [default: info for serve, warn for clients]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand health" -l log-format -d 'Log lines on stderr as text, or as JSON objects with `service`, `component` and `endpoint` fields [env: MOVIEAPP_LOG_FORMAT; config: log.format; default: text]' -r -f -a "text\t''
json\t''"
complete -c movieapp -n "__fish_movieapp_using_subcommand health" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c movieapp -n "__fish_movieapp_using_subcommand health" -s V -l version -d 'Print version'
complete -c movieapp -n "__fish_movieapp_using_subcommand top" -l interval -d 'How often to refresh, and the interval the figures are over, e.g. 1s or 5s' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand top" -s o -l output -d 'Output format' -r -f -a "table\t'A readable table'
json\t'JSON, one document per command, for scripts'"
complete -c movieapp -n "__fish_movieapp_using_subcommand top" -l cacert -d 'The CA to verify the services\' certificates against; given, clients speak TLS [env: MOVIEAPP_TLS_CA; config: tls.ca]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand top" -l cert -d 'The client certificate to present under mutual TLS, with --key [env: MOVIEAPP_TLS_CLIENT_CERT; config: tls.clientCert]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand top" -l key -d 'The client certificate\'s private key [env: MOVIEAPP_TLS_CLIENT_KEY; config: tls.clientKey]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand top" -l config -d 'YAML configuration file (format: configs/base.yaml) [env: MOVIEAPP_CONFIG]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand top" -l data-dir -d 'Where the services keep their data [env: MOVIEAPP_DATA_DIR; default: the platform data directory, e.g. ~/.local/share/movieapp]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand top" -l log-level -d 'Log level (error, warn, info, debug, trace) or a filter such as `movieapp=debug`; overrides RUST_LOG [default: info for serve, warn for clients]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand top" -l log-format -d 'Log lines on stderr as text, or as JSON objects with `service`, `component` and `endpoint` fields [env: MOVIEAPP_LOG_FORMAT; config: log.format; default: text]' -r -f -a "text\t''
json\t''"
complete -c movieapp -n "__fish_movieapp_using_subcommand top" -l once -d 'Print one snapshot and exit (so it does when stdout is not a terminal)'
complete -c movieapp -n "__fish_movieapp_using_subcommand top" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c movieapp -n "__fish_movieapp_using_subcommand top" -s V -l version -d 'Print version'
complete -c movieapp -n "__fish_movieapp_using_subcommand certs; and not __fish_seen_subcommand_from init help" -l config -d 'YAML configuration file (format: configs/base.yaml) [env: MOVIEAPP_CONFIG]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand certs; and not __fish_seen_subcommand_from init help" -l data-dir -d 'Where the services keep their data [env: MOVIEAPP_DATA_DIR; default: the platform data directory, e.g. ~/.local/share/movieapp]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand certs; and not __fish_seen_subcommand_from init help" -l log-level -d 'Log level (error, warn, info, debug, trace) or a filter such as `movieapp=debug`; overrides RUST_LOG [default: info for serve, warn for clients]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand certs; and not __fish_seen_subcommand_from init help" -l log-format -d 'Log lines on stderr as text, or as JSON objects with `service`, `component` and `endpoint` fields [env: MOVIEAPP_LOG_FORMAT; config: log.format; default: text]' -r -f -a "text\t''
json\t''"
complete -c movieapp -n "__fish_movieapp_using_subcommand certs; and not __fish_seen_subcommand_from init help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c movieapp -n "__fish_movieapp_using_subcommand certs; and not __fish_seen_subcommand_from init help" -s V -l version -d 'Print version'
complete -c movieapp -n "__fish_movieapp_using_subcommand certs; and not __fish_seen_subcommand_from init help" -f -a "init" -d 'Write ca.crt/ca.key, server.crt/server.key and client.crt/client.key (keys mode 0600)'
complete -c movieapp -n "__fish_movieapp_using_subcommand certs; and not __fish_seen_subcommand_from init help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c movieapp -n "__fish_movieapp_using_subcommand certs; and __fish_seen_subcommand_from init" -l dir -d 'Where to write them [default: <data-dir>/certs]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand certs; and __fish_seen_subcommand_from init" -l host -d 'Another name (DNS name or IP address) the server certificate covers; repeatable' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand certs; and __fish_seen_subcommand_from init" -l config -d 'YAML configuration file (format: configs/base.yaml) [env: MOVIEAPP_CONFIG]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand certs; and __fish_seen_subcommand_from init" -l data-dir -d 'Where the services keep their data [env: MOVIEAPP_DATA_DIR; default: the platform data directory, e.g. ~/.local/share/movieapp]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand certs; and __fish_seen_subcommand_from init" -l log-level -d 'Log level (error, warn, info, debug, trace) or a filter such as `movieapp=debug`; overrides RUST_LOG [default: info for serve, warn for clients]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand certs; and __fish_seen_subcommand_from init" -l log-format -d 'Log lines on stderr as text, or as JSON objects with `service`, `component` and `endpoint` fields [env: MOVIEAPP_LOG_FORMAT; config: log.format; default: text]' -r -f -a "text\t''
json\t''"
complete -c movieapp -n "__fish_movieapp_using_subcommand certs; and __fish_seen_subcommand_from init" -l force -d 'Replace certificates that are already there'
complete -c movieapp -n "__fish_movieapp_using_subcommand certs; and __fish_seen_subcommand_from init" -s h -l help -d 'Print help'
complete -c movieapp -n "__fish_movieapp_using_subcommand certs; and __fish_seen_subcommand_from init" -s V -l version -d 'Print version'
complete -c movieapp -n "__fish_movieapp_using_subcommand certs; and __fish_seen_subcommand_from help" -f -a "init" -d 'Write ca.crt/ca.key, server.crt/server.key and client.crt/client.key (keys mode 0600)'
complete -c movieapp -n "__fish_movieapp_using_subcommand certs; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c movieapp -n "__fish_movieapp_using_subcommand bench-serialize" -l duration -d 'Total time to spend measuring, in seconds' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand bench-serialize" -l iterations -d 'Iterations per batch, instead of sizing batches from --duration' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand bench-serialize" -l batches -d 'Batches per operation; their median ns/op is reported' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand bench-serialize" -l formats -d 'Formats to compare, comma-separated [default: all]' -r -f -a "json\t'serde_json, the book\'s lowercase field names'
xml\t'quick-xml, Go\'s element names (`<Metadata><ID>…`)'
yaml\t'serde_yaml_ng'
protobuf\t'prost, the generated `Metadata`'
msgpack\t'rmp-serde, fields by name'
cbor\t'ciborium, fields by name'
postcard\t'postcard, fields by position'"
complete -c movieapp -n "__fish_movieapp_using_subcommand bench-serialize" -l value-file -d 'Benchmark this Metadata JSON ({"id","title","description","director"}) instead of the book\'s value' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand bench-serialize" -s o -l output -d 'Output format' -r -f -a "table\t'A readable table'
json\t'JSON, one document per command, for scripts'"
complete -c movieapp -n "__fish_movieapp_using_subcommand bench-serialize" -l config -d 'YAML configuration file (format: configs/base.yaml) [env: MOVIEAPP_CONFIG]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand bench-serialize" -l data-dir -d 'Where the services keep their data [env: MOVIEAPP_DATA_DIR; default: the platform data directory, e.g. ~/.local/share/movieapp]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand bench-serialize" -l log-level -d 'Log level (error, warn, info, debug, trace) or a filter such as `movieapp=debug`; overrides RUST_LOG [default: info for serve, warn for clients]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand bench-serialize" -l log-format -d 'Log lines on stderr as text, or as JSON objects with `service`, `component` and `endpoint` fields [env: MOVIEAPP_LOG_FORMAT; config: log.format; default: text]' -r -f -a "text\t''
json\t''"
complete -c movieapp -n "__fish_movieapp_using_subcommand bench-serialize" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c movieapp -n "__fish_movieapp_using_subcommand bench-serialize" -s V -l version -d 'Print version'
complete -c movieapp -n "__fish_movieapp_using_subcommand bench-load" -l addr -d 'The service\'s address (host:port)' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand bench-load" -l call -d 'The gRPC method to call, Service/Method (e.g. MovieService/GetMovieDetails)' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand bench-load" -s d -l data -d 'The request, as JSON (the proto3 JSON mapping)' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand bench-load" -l http -d 'An HTTP request instead: METHOD and path, e.g. \'GET /movie?id=1\'' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand bench-load" -l vary -d 'How many different requests to send, cycling: `{n}` in the request (--data or --http) becomes 0, 1, … N-1 in successive calls [default with {n}: 100000]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand bench-load" -s c -l connections -d 'Connections' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand bench-load" -l streams -d 'Calls in flight on each connection (closed loop)' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand bench-load" -l rate -d 'Calls per second, open loop' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand bench-load" -l duration -d 'How long to run, e.g. 10s or 2m' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand bench-load" -s n -l calls -d 'Stop after this many calls instead' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand bench-load" -l timeout -d 'How long one call may take' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand bench-load" -l token -d 'Token to send [env: MOVIEAPP_TOKEN; default: the one `movieapp login` kept]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand bench-load" -s o -l output -d 'Output format' -r -f -a "table\t'A readable table'
json\t'JSON, one document per command, for scripts'"
complete -c movieapp -n "__fish_movieapp_using_subcommand bench-load" -l registry -d 'Service registry: sqlite (default; <data-dir>/registry.db, shared by every movieapp on this host), memory, static (addresses from config) or consul://host:port [env: MOVIEAPP_REGISTRY; config: serviceDiscovery.backend]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand bench-load" -l cacert -d 'The CA to verify the services\' certificates against; given, clients speak TLS [env: MOVIEAPP_TLS_CA; config: tls.ca]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand bench-load" -l cert -d 'The client certificate to present under mutual TLS, with --key [env: MOVIEAPP_TLS_CLIENT_CERT; config: tls.clientCert]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand bench-load" -l key -d 'The client certificate\'s private key [env: MOVIEAPP_TLS_CLIENT_KEY; config: tls.clientKey]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand bench-load" -l config -d 'YAML configuration file (format: configs/base.yaml) [env: MOVIEAPP_CONFIG]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand bench-load" -l data-dir -d 'Where the services keep their data [env: MOVIEAPP_DATA_DIR; default: the platform data directory, e.g. ~/.local/share/movieapp]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand bench-load" -l log-level -d 'Log level (error, warn, info, debug, trace) or a filter such as `movieapp=debug`; overrides RUST_LOG [default: info for serve, warn for clients]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand bench-load" -l log-format -d 'Log lines on stderr as text, or as JSON objects with `service`, `component` and `endpoint` fields [env: MOVIEAPP_LOG_FORMAT; config: log.format; default: text]' -r -f -a "text\t''
json\t''"
complete -c movieapp -n "__fish_movieapp_using_subcommand bench-load" -l seed -d 'First put movie 1 (metadata and two ratings) through the services the registry knows, so GetMovieDetails, GetMetadata and GetAggregatedRating of "1" have an answer'
complete -c movieapp -n "__fish_movieapp_using_subcommand bench-load" -l allow-remote -d 'Allow a target that is not on this machine'
complete -c movieapp -n "__fish_movieapp_using_subcommand bench-load" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c movieapp -n "__fish_movieapp_using_subcommand bench-load" -s V -l version -d 'Print version'
complete -c movieapp -n "__fish_movieapp_using_subcommand config; and not __fish_seen_subcommand_from check show help" -l registry -d 'Service registry: sqlite (default; <data-dir>/registry.db, shared by every movieapp on this host), memory, static (addresses from config) or consul://host:port [env: MOVIEAPP_REGISTRY; config: serviceDiscovery.backend]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand config; and not __fish_seen_subcommand_from check show help" -l broker -d 'Rating feed broker: sqlite (default; <data-dir>/broker.db, embedded) or kafka://host:9092[,host2:9092] [env: MOVIEAPP_BROKER; config: broker.backend]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand config; and not __fish_seen_subcommand_from check show help" -l cacert -d 'The CA to verify the services\' certificates against; given, clients speak TLS [env: MOVIEAPP_TLS_CA; config: tls.ca]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand config; and not __fish_seen_subcommand_from check show help" -l cert -d 'The client certificate to present under mutual TLS, with --key [env: MOVIEAPP_TLS_CLIENT_CERT; config: tls.clientCert]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand config; and not __fish_seen_subcommand_from check show help" -l key -d 'The client certificate\'s private key [env: MOVIEAPP_TLS_CLIENT_KEY; config: tls.clientKey]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand config; and not __fish_seen_subcommand_from check show help" -l config -d 'YAML configuration file (format: configs/base.yaml) [env: MOVIEAPP_CONFIG]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand config; and not __fish_seen_subcommand_from check show help" -l data-dir -d 'Where the services keep their data [env: MOVIEAPP_DATA_DIR; default: the platform data directory, e.g. ~/.local/share/movieapp]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand config; and not __fish_seen_subcommand_from check show help" -l log-level -d 'Log level (error, warn, info, debug, trace) or a filter such as `movieapp=debug`; overrides RUST_LOG [default: info for serve, warn for clients]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand config; and not __fish_seen_subcommand_from check show help" -l log-format -d 'Log lines on stderr as text, or as JSON objects with `service`, `component` and `endpoint` fields [env: MOVIEAPP_LOG_FORMAT; config: log.format; default: text]' -r -f -a "text\t''
json\t''"
complete -c movieapp -n "__fish_movieapp_using_subcommand config; and not __fish_seen_subcommand_from check show help" -s h -l help -d 'Print help'
complete -c movieapp -n "__fish_movieapp_using_subcommand config; and not __fish_seen_subcommand_from check show help" -s V -l version -d 'Print version'
complete -c movieapp -n "__fish_movieapp_using_subcommand config; and not __fish_seen_subcommand_from check show help" -f -a "check" -d 'Check a configuration file: exit 0 when it is valid, 2 with the file, key and reason when it is not. Only the file is checked, not the environment'
complete -c movieapp -n "__fish_movieapp_using_subcommand config; and not __fish_seen_subcommand_from check show help" -f -a "show" -d 'Print the effective configuration: the defaults, then the file (--config or MOVIEAPP_CONFIG), the MOVIEAPP_* environment and the global flags, each value with its source (default, file, env or flag)'
complete -c movieapp -n "__fish_movieapp_using_subcommand config; and not __fish_seen_subcommand_from check show help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c movieapp -n "__fish_movieapp_using_subcommand config; and __fish_seen_subcommand_from check" -l registry -d 'Service registry: sqlite (default; <data-dir>/registry.db, shared by every movieapp on this host), memory, static (addresses from config) or consul://host:port [env: MOVIEAPP_REGISTRY; config: serviceDiscovery.backend]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand config; and __fish_seen_subcommand_from check" -l broker -d 'Rating feed broker: sqlite (default; <data-dir>/broker.db, embedded) or kafka://host:9092[,host2:9092] [env: MOVIEAPP_BROKER; config: broker.backend]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand config; and __fish_seen_subcommand_from check" -l cacert -d 'The CA to verify the services\' certificates against; given, clients speak TLS [env: MOVIEAPP_TLS_CA; config: tls.ca]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand config; and __fish_seen_subcommand_from check" -l cert -d 'The client certificate to present under mutual TLS, with --key [env: MOVIEAPP_TLS_CLIENT_CERT; config: tls.clientCert]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand config; and __fish_seen_subcommand_from check" -l key -d 'The client certificate\'s private key [env: MOVIEAPP_TLS_CLIENT_KEY; config: tls.clientKey]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand config; and __fish_seen_subcommand_from check" -l config -d 'YAML configuration file (format: configs/base.yaml) [env: MOVIEAPP_CONFIG]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand config; and __fish_seen_subcommand_from check" -l data-dir -d 'Where the services keep their data [env: MOVIEAPP_DATA_DIR; default: the platform data directory, e.g. ~/.local/share/movieapp]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand config; and __fish_seen_subcommand_from check" -l log-level -d 'Log level (error, warn, info, debug, trace) or a filter such as `movieapp=debug`; overrides RUST_LOG [default: info for serve, warn for clients]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand config; and __fish_seen_subcommand_from check" -l log-format -d 'Log lines on stderr as text, or as JSON objects with `service`, `component` and `endpoint` fields [env: MOVIEAPP_LOG_FORMAT; config: log.format; default: text]' -r -f -a "text\t''
json\t''"
complete -c movieapp -n "__fish_movieapp_using_subcommand config; and __fish_seen_subcommand_from check" -s h -l help -d 'Print help'
complete -c movieapp -n "__fish_movieapp_using_subcommand config; and __fish_seen_subcommand_from check" -s V -l version -d 'Print version'
complete -c movieapp -n "__fish_movieapp_using_subcommand config; and __fish_seen_subcommand_from show" -s o -l output -d 'yaml: the configuration with a `# source` comment per value; json: one object keyed by dotted path, each with `value` and `source`' -r -f -a "yaml\t''
json\t''"
complete -c movieapp -n "__fish_movieapp_using_subcommand config; and __fish_seen_subcommand_from show" -l registry -d 'Service registry: sqlite (default; <data-dir>/registry.db, shared by every movieapp on this host), memory, static (addresses from config) or consul://host:port [env: MOVIEAPP_REGISTRY; config: serviceDiscovery.backend]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand config; and __fish_seen_subcommand_from show" -l broker -d 'Rating feed broker: sqlite (default; <data-dir>/broker.db, embedded) or kafka://host:9092[,host2:9092] [env: MOVIEAPP_BROKER; config: broker.backend]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand config; and __fish_seen_subcommand_from show" -l cacert -d 'The CA to verify the services\' certificates against; given, clients speak TLS [env: MOVIEAPP_TLS_CA; config: tls.ca]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand config; and __fish_seen_subcommand_from show" -l cert -d 'The client certificate to present under mutual TLS, with --key [env: MOVIEAPP_TLS_CLIENT_CERT; config: tls.clientCert]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand config; and __fish_seen_subcommand_from show" -l key -d 'The client certificate\'s private key [env: MOVIEAPP_TLS_CLIENT_KEY; config: tls.clientKey]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand config; and __fish_seen_subcommand_from show" -l config -d 'YAML configuration file (format: configs/base.yaml) [env: MOVIEAPP_CONFIG]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand config; and __fish_seen_subcommand_from show" -l data-dir -d 'Where the services keep their data [env: MOVIEAPP_DATA_DIR; default: the platform data directory, e.g. ~/.local/share/movieapp]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand config; and __fish_seen_subcommand_from show" -l log-level -d 'Log level (error, warn, info, debug, trace) or a filter such as `movieapp=debug`; overrides RUST_LOG [default: info for serve, warn for clients]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand config; and __fish_seen_subcommand_from show" -l log-format -d 'Log lines on stderr as text, or as JSON objects with `service`, `component` and `endpoint` fields [env: MOVIEAPP_LOG_FORMAT; config: log.format; default: text]' -r -f -a "text\t''
json\t''"
complete -c movieapp -n "__fish_movieapp_using_subcommand config; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c movieapp -n "__fish_movieapp_using_subcommand config; and __fish_seen_subcommand_from show" -s V -l version -d 'Print version'
complete -c movieapp -n "__fish_movieapp_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "check" -d 'Check a configuration file: exit 0 when it is valid, 2 with the file, key and reason when it is not. Only the file is checked, not the environment'
complete -c movieapp -n "__fish_movieapp_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "show" -d 'Print the effective configuration: the defaults, then the file (--config or MOVIEAPP_CONFIG), the MOVIEAPP_* environment and the global flags, each value with its source (default, file, env or flag)'
complete -c movieapp -n "__fish_movieapp_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c movieapp -n "__fish_movieapp_using_subcommand db; and not __fish_seen_subcommand_from migrate status check help" -l config -d 'YAML configuration file (format: configs/base.yaml) [env: MOVIEAPP_CONFIG]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand db; and not __fish_seen_subcommand_from migrate status check help" -l data-dir -d 'Where the services keep their data [env: MOVIEAPP_DATA_DIR; default: the platform data directory, e.g. ~/.local/share/movieapp]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand db; and not __fish_seen_subcommand_from migrate status check help" -l log-level -d 'Log level (error, warn, info, debug, trace) or a filter such as `movieapp=debug`; overrides RUST_LOG [default: info for serve, warn for clients]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand db; and not __fish_seen_subcommand_from migrate status check help" -l log-format -d 'Log lines on stderr as text, or as JSON objects with `service`, `component` and `endpoint` fields [env: MOVIEAPP_LOG_FORMAT; config: log.format; default: text]' -r -f -a "text\t''
json\t''"
complete -c movieapp -n "__fish_movieapp_using_subcommand db; and not __fish_seen_subcommand_from migrate status check help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c movieapp -n "__fish_movieapp_using_subcommand db; and not __fish_seen_subcommand_from migrate status check help" -s V -l version -d 'Print version'
complete -c movieapp -n "__fish_movieapp_using_subcommand db; and not __fish_seen_subcommand_from migrate status check help" -f -a "migrate" -d 'Apply every pending migration; exit 0 when the schemas are current'
complete -c movieapp -n "__fish_movieapp_using_subcommand db; and not __fish_seen_subcommand_from migrate status check help" -f -a "status" -d 'Show each schema\'s version: applied, known, and what is pending; changes nothing'
complete -c movieapp -n "__fish_movieapp_using_subcommand db; and not __fish_seen_subcommand_from migrate status check help" -f -a "check" -d 'Recompute every record\'s rating count and sum from its ratings, and list the records whose kept aggregate differs; exit 1 if any does'
complete -c movieapp -n "__fish_movieapp_using_subcommand db; and not __fish_seen_subcommand_from migrate status check help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c movieapp -n "__fish_movieapp_using_subcommand db; and __fish_seen_subcommand_from migrate" -s o -l output -r -f -a "table\t'A readable table'
json\t'JSON, one document per command, for scripts'"
complete -c movieapp -n "__fish_movieapp_using_subcommand db; and __fish_seen_subcommand_from migrate" -l config -d 'YAML configuration file (format: configs/base.yaml) [env: MOVIEAPP_CONFIG]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand db; and __fish_seen_subcommand_from migrate" -l data-dir -d 'Where the services keep their data [env: MOVIEAPP_DATA_DIR; default: the platform data directory, e.g. ~/.local/share/movieapp]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand db; and __fish_seen_subcommand_from migrate" -l log-level -d 'Log level (error, warn, info, debug, trace) or a filter such as `movieapp=debug`; overrides RUST_LOG [default: info for serve, warn for clients]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand db; and __fish_seen_subcommand_from migrate" -l log-format -d 'Log lines on stderr as text, or as JSON objects with `service`, `component` and `endpoint` fields [env: MOVIEAPP_LOG_FORMAT; config: log.format; default: text]' -r -f -a "text\t''
json\t''"
complete -c movieapp -n "__fish_movieapp_using_subcommand db; and __fish_seen_subcommand_from migrate" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c movieapp -n "__fish_movieapp_using_subcommand db; and __fish_seen_subcommand_from migrate" -s V -l version -d 'Print version'
complete -c movieapp -n "__fish_movieapp_using_subcommand db; and __fish_seen_subcommand_from status" -s o -l output -r -f -a "table\t'A readable table'
json\t'JSON, one document per command, for scripts'"
complete -c movieapp -n "__fish_movieapp_using_subcommand db; and __fish_seen_subcommand_from status" -l config -d 'YAML configuration file (format: configs/base.yaml) [env: MOVIEAPP_CONFIG]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand db; and __fish_seen_subcommand_from status" -l data-dir -d 'Where the services keep their data [env: MOVIEAPP_DATA_DIR; default: the platform data directory, e.g. ~/.local/share/movieapp]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand db; and __fish_seen_subcommand_from status" -l log-level -d 'Log level (error, warn, info, debug, trace) or a filter such as `movieapp=debug`; overrides RUST_LOG [default: info for serve, warn for clients]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand db; and __fish_seen_subcommand_from status" -l log-format -d 'Log lines on stderr as text, or as JSON objects with `service`, `component` and `endpoint` fields [env: MOVIEAPP_LOG_FORMAT; config: log.format; default: text]' -r -f -a "text\t''
json\t''"
complete -c movieapp -n "__fish_movieapp_using_subcommand db; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c movieapp -n "__fish_movieapp_using_subcommand db; and __fish_seen_subcommand_from status" -s V -l version -d 'Print version'
complete -c movieapp -n "__fish_movieapp_using_subcommand db; and __fish_seen_subcommand_from check" -s o -l output -r -f -a "table\t'A readable table'
json\t'JSON, one document per command, for scripts'"
complete -c movieapp -n "__fish_movieapp_using_subcommand db; and __fish_seen_subcommand_from check" -l config -d 'YAML configuration file (format: configs/base.yaml) [env: MOVIEAPP_CONFIG]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand db; and __fish_seen_subcommand_from check" -l data-dir -d 'Where the services keep their data [env: MOVIEAPP_DATA_DIR; default: the platform data directory, e.g. ~/.local/share/movieapp]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand db; and __fish_seen_subcommand_from check" -l log-level -d 'Log level (error, warn, info, debug, trace) or a filter such as `movieapp=debug`; overrides RUST_LOG [default: info for serve, warn for clients]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand db; and __fish_seen_subcommand_from check" -l log-format -d 'Log lines on stderr as text, or as JSON objects with `service`, `component` and `endpoint` fields [env: MOVIEAPP_LOG_FORMAT; config: log.format; default: text]' -r -f -a "text\t''
json\t''"
complete -c movieapp -n "__fish_movieapp_using_subcommand db; and __fish_seen_subcommand_from check" -l repair -d 'Make the kept aggregates right (all recomputed, in the transaction that found the differences); exit 0 once done'
complete -c movieapp -n "__fish_movieapp_using_subcommand db; and __fish_seen_subcommand_from check" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c movieapp -n "__fish_movieapp_using_subcommand db; and __fish_seen_subcommand_from check" -s V -l version -d 'Print version'
complete -c movieapp -n "__fish_movieapp_using_subcommand db; and __fish_seen_subcommand_from help" -f -a "migrate" -d 'Apply every pending migration; exit 0 when the schemas are current'
complete -c movieapp -n "__fish_movieapp_using_subcommand db; and __fish_seen_subcommand_from help" -f -a "status" -d 'Show each schema\'s version: applied, known, and what is pending; changes nothing'
complete -c movieapp -n "__fish_movieapp_using_subcommand db; and __fish_seen_subcommand_from help" -f -a "check" -d 'Recompute every record\'s rating count and sum from its ratings, and list the records whose kept aggregate differs; exit 1 if any does'
complete -c movieapp -n "__fish_movieapp_using_subcommand db; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c movieapp -n "__fish_movieapp_using_subcommand completions" -l config -d 'YAML configuration file (format: configs/base.yaml) [env: MOVIEAPP_CONFIG]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand completions" -l data-dir -d 'Where the services keep their data [env: MOVIEAPP_DATA_DIR; default: the platform data directory, e.g. ~/.local/share/movieapp]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand completions" -l log-level -d 'Log level (error, warn, info, debug, trace) or a filter such as `movieapp=debug`; overrides RUST_LOG [default: info for serve, warn for clients]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand completions" -l log-format -d 'Log lines on stderr as text, or as JSON objects with `service`, `component` and `endpoint` fields [env: MOVIEAPP_LOG_FORMAT; config: log.format; default: text]' -r -f -a "text\t''
json\t''"
complete -c movieapp -n "__fish_movieapp_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c movieapp -n "__fish_movieapp_using_subcommand completions" -s V -l version -d 'Print version'
complete -c movieapp -n "__fish_movieapp_using_subcommand version" -s o -l output -r -f -a "table\t'A readable table'
json\t'JSON, one document per command, for scripts'"
complete -c movieapp -n "__fish_movieapp_using_subcommand version" -l config -d 'YAML configuration file (format: configs/base.yaml) [env: MOVIEAPP_CONFIG]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand version" -l data-dir -d 'Where the services keep their data [env: MOVIEAPP_DATA_DIR; default: the platform data directory, e.g. ~/.local/share/movieapp]' -r -F
complete -c movieapp -n "__fish_movieapp_using_subcommand version" -l log-level -d 'Log level (error, warn, info, debug, trace) or a filter such as `movieapp=debug`; overrides RUST_LOG [default: info for serve, warn for clients]' -r
complete -c movieapp -n "__fish_movieapp_using_subcommand version" -l log-format -d 'Log lines on stderr as text, or as JSON objects with `service`, `component` and `endpoint` fields [env: MOVIEAPP_LOG_FORMAT; config: log.format; default: text]' -r -f -a "text\t''
json\t''"
complete -c movieapp -n "__fish_movieapp_using_subcommand version" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c movieapp -n "__fish_movieapp_using_subcommand version" -s V -l version -d 'Print version'
complete -c movieapp -n "__fish_movieapp_using_subcommand help; and not __fish_seen_subcommand_from serve movie rate produce profile feed registry auth login logout lock health top certs bench-serialize bench-load config db completions version help" -f -a "serve" -d 'Run the metadata, rating, movie and auth services in this process, data in SQLite'
complete -c movieapp -n "__fish_movieapp_using_subcommand help; and not __fish_seen_subcommand_from serve movie rate produce profile feed registry auth login logout lock health top certs bench-serialize bench-load config db completions version help" -f -a "movie" -d 'Show or store movies'
complete -c movieapp -n "__fish_movieapp_using_subcommand help; and not __fish_seen_subcommand_from serve movie rate produce profile feed registry auth login logout lock health top certs bench-serialize bench-load config db completions version help" -f -a "rate" -d 'Rate records, read their aggregated rating, or list who rated them'
complete -c movieapp -n "__fish_movieapp_using_subcommand help; and not __fish_seen_subcommand_from serve movie rate produce profile feed registry auth login logout lock health top certs bench-serialize bench-load config db completions version help" -f -a "produce" -d 'Publish rating events to the rating feed (book chapter 6)'
complete -c movieapp -n "__fish_movieapp_using_subcommand help; and not __fish_seen_subcommand_from serve movie rate produce profile feed registry auth login logout lock health top certs bench-serialize bench-load config db completions version help" -f -a "profile" -d 'Take a CPU profile of a running movieapp, as pprof or a flame graph'
complete -c movieapp -n "__fish_movieapp_using_subcommand help; and not __fish_seen_subcommand_from serve movie rate produce profile feed registry auth login logout lock health top certs bench-serialize bench-load config db completions version help" -f -a "feed" -d 'Inspect the rating feed, and follow topics such as rating-changes'
complete -c movieapp -n "__fish_movieapp_using_subcommand help; and not __fish_seen_subcommand_from serve movie rate produce profile feed registry auth login logout lock health top certs bench-serialize bench-load config db completions version help" -f -a "registry" -d 'See which service instances are registered, where, and whether they are healthy'
complete -c movieapp -n "__fish_movieapp_using_subcommand help; and not __fish_seen_subcommand_from serve movie rate produce profile feed registry auth login logout lock health top certs bench-serialize bench-load config db completions version help" -f -a "auth" -d 'Manage the users who may get tokens from the auth service, and its signing keys'
complete -c movieapp -n "__fish_movieapp_using_subcommand help; and not __fish_seen_subcommand_from serve movie rate produce profile feed registry auth login logout lock health top certs bench-serialize bench-load config db completions version help" -f -a "login" -d 'Get a token from the auth service and keep it for the other commands'
complete -c movieapp -n "__fish_movieapp_using_subcommand help; and not __fish_seen_subcommand_from serve movie rate produce profile feed registry auth login logout lock health top certs bench-serialize bench-load config db completions version help" -f -a "logout" -d 'Forget the token `movieapp login` kept, so the other commands stop sending it'
complete -c movieapp -n "__fish_movieapp_using_subcommand help; and not __fish_seen_subcommand_from serve movie rate produce profile feed registry auth login logout lock health top certs bench-serialize bench-load config db completions version help" -f -a "lock" -d 'Run a command while holding a lock, or show who holds which lock'
complete -c movieapp -n "__fish_movieapp_using_subcommand help; and not __fish_seen_subcommand_from serve movie rate produce profile feed registry auth login logout lock health top certs bench-serialize bench-load config db completions version help" -f -a "health" -d 'Ask a service whether it is serving (gRPC health checking), once'
complete -c movieapp -n "__fish_movieapp_using_subcommand help; and not __fish_seen_subcommand_from serve movie rate produce profile feed registry auth login logout lock health top certs bench-serialize bench-load config db completions version help" -f -a "top" -d 'A live view of every registered instance: state, calls/s, errors, latency'
complete -c movieapp -n "__fish_movieapp_using_subcommand help; and not __fish_seen_subcommand_from serve movie rate produce profile feed registry auth login logout lock health top certs bench-serialize bench-load config db completions version help" -f -a "certs" -d 'Make certificates for trying TLS and mutual TLS on this machine'
complete -c movieapp -n "__fish_movieapp_using_subcommand help; and not __fish_seen_subcommand_from serve movie rate produce profile feed registry auth login logout lock health top certs bench-serialize bench-load config db completions version help" -f -a "bench-serialize" -d 'Compare serialization formats for a movie\'s metadata (book chapter 4)'
complete -c movieapp -n "__fish_movieapp_using_subcommand help; and not __fish_seen_subcommand_from serve movie rate produce profile feed registry auth login logout lock health top certs bench-serialize bench-load config db completions version help" -f -a "bench-load" -d 'Load-test a service: one call, repeated, with latency percentiles'
complete -c movieapp -n "__fish_movieapp_using_subcommand help; and not __fish_seen_subcommand_from serve movie rate produce profile feed registry auth login logout lock health top certs bench-serialize bench-load config db completions version help" -f -a "config" -d 'Check a configuration file, or show the effective configuration'
complete -c movieapp -n "__fish_movieapp_using_subcommand help; and not __fish_seen_subcommand_from serve movie rate produce profile feed registry auth login logout lock health top certs bench-serialize bench-load config db completions version help" -f -a "db" -d 'Run or show the database migrations of metadata and rating'
complete -c movieapp -n "__fish_movieapp_using_subcommand help; and not __fish_seen_subcommand_from serve movie rate produce profile feed registry auth login logout lock health top certs bench-serialize bench-load config db completions version help" -f -a "completions" -d 'Print a shell completion script'
complete -c movieapp -n "__fish_movieapp_using_subcommand help; and not __fish_seen_subcommand_from serve movie rate produce profile feed registry auth login logout lock health top certs bench-serialize bench-load config db completions version help" -f -a "version" -d 'What this binary was built from: version, git commit, compiler, features'
complete -c movieapp -n "__fish_movieapp_using_subcommand help; and not __fish_seen_subcommand_from serve movie rate produce profile feed registry auth login logout lock health top certs bench-serialize bench-load config db completions version help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c movieapp -n "__fish_movieapp_using_subcommand help; and __fish_seen_subcommand_from movie" -f -a "get" -d 'Show a movie\'s metadata and aggregated rating (asks the movie service)'
complete -c movieapp -n "__fish_movieapp_using_subcommand help; and __fish_seen_subcommand_from movie" -f -a "put" -d 'Store or replace a movie\'s metadata (asks the metadata service)'
complete -c movieapp -n "__fish_movieapp_using_subcommand help; and __fish_seen_subcommand_from movie" -f -a "upload" -d 'Upload a file of a movie\'s (asks the movie service), streamed in 64 KiB chunks'
complete -c movieapp -n "__fish_movieapp_using_subcommand help; and __fish_seen_subcommand_from movie" -f -a "list" -d 'List the movies by id, following pages to the end (asks the metadata service)'
complete -c movieapp -n "__fish_movieapp_using_subcommand help; and __fish_seen_subcommand_from movie" -f -a "files" -d 'List a movie\'s files: size, checksum, and whether the processor has checked them'
complete -c movieapp -n "__fish_movieapp_using_subcommand help; and __fish_seen_subcommand_from rate" -f -a "put" -d 'Rate a record from 1 to 5; a user\'s new rating of a record replaces their old one'
complete -c movieapp -n "__fish_movieapp_using_subcommand help; and __fish_seen_subcommand_from rate" -f -a "list" -d 'List who rated a record and how, by user id, following pages to the end'
complete -c movieapp -n "__fish_movieapp_using_subcommand help; and __fish_seen_subcommand_from rate" -f -a "get" -d 'Show a record\'s aggregated rating: the mean over its users'
complete -c movieapp -n "__fish_movieapp_using_subcommand help; and __fish_seen_subcommand_from feed" -f -a "status" -d 'Consumer lag: per partition, the end of the topic, the rating service\'s committed offset and how far behind it is; and how many events were dead-lettered'
complete -c movieapp -n "__fish_movieapp_using_subcommand help; and __fish_seen_subcommand_from feed" -f -a "tail" -d 'Follow a topic as `tail -f` follows a file: each record as it is published, until Ctrl-C. E.g. `movieapp feed tail rating-changes -o json | jq .userId`'
complete -c movieapp -n "__fish_movieapp_using_subcommand help; and __fish_seen_subcommand_from registry" -f -a "list" -d 'Every instance of every service: address, health, age of the last heartbeat'
complete -c movieapp -n "__fish_movieapp_using_subcommand help; and __fish_seen_subcommand_from registry" -f -a "show" -d 'The instances of one service'
complete -c movieapp -n "__fish_movieapp_using_subcommand help; and __fish_seen_subcommand_from registry" -f -a "watch" -d 'Show the list, refreshed until Ctrl-C'
complete -c movieapp -n "__fish_movieapp_using_subcommand help; and __fish_seen_subcommand_from registry" -f -a "deregister" -d 'Remove an instance, e.g. one that was killed. A live instance registers itself again at its next heartbeat'
complete -c movieapp -n "__fish_movieapp_using_subcommand help; and __fish_seen_subcommand_from auth" -f -a "user" -d 'Users: add, list, change passwords, remove'
complete -c movieapp -n "__fish_movieapp_using_subcommand help; and __fish_seen_subcommand_from auth" -f -a "key" -d 'Signing keys: list, rotate'
complete -c movieapp -n "__fish_movieapp_using_subcommand help; and __fish_seen_subcommand_from auth" -f -a "token" -d 'Print the token `movieapp login` kept (or MOVIEAPP_TOKEN), for curl and grpcurl: curl -H "authorization: Bearer $(movieapp auth token)" …'
complete -c movieapp -n "__fish_movieapp_using_subcommand help; and __fish_seen_subcommand_from lock" -f -a "run" -d 'Run CMD while holding KEY, like `consul lock`'
complete -c movieapp -n "__fish_movieapp_using_subcommand help; and __fish_seen_subcommand_from lock" -f -a "status" -d 'Every lock: its holder, fencing token and expiry'
complete -c movieapp -n "__fish_movieapp_using_subcommand help; and __fish_seen_subcommand_from certs" -f -a "init" -d 'Write ca.crt/ca.key, server.crt/server.key and client.crt/client.key (keys mode 0600)'
complete -c movieapp -n "__fish_movieapp_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "check" -d 'Check a configuration file: exit 0 when it is valid, 2 with the file, key and reason when it is not. Only the file is checked, not the environment'
complete -c movieapp -n "__fish_movieapp_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "show" -d 'Print the effective configuration: the defaults, then the file (--config or MOVIEAPP_CONFIG), the MOVIEAPP_* environment and the global flags, each value with its source (default, file, env or flag)'
complete -c movieapp -n "__fish_movieapp_using_subcommand help; and __fish_seen_subcommand_from db" -f -a "migrate" -d 'Apply every pending migration; exit 0 when the schemas are current'
complete -c movieapp -n "__fish_movieapp_using_subcommand help; and __fish_seen_subcommand_from db" -f -a "status" -d 'Show each schema\'s version: applied, known, and what is pending; changes nothing'
complete -c movieapp -n "__fish_movieapp_using_subcommand help; and __fish_seen_subcommand_from db" -f -a "check" -d 'Recompute every record\'s rating count and sum from its ratings, and list the records whose kept aggregate differs; exit 1 if any does'
