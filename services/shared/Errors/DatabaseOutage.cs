using Npgsql;

namespace ScheduledPosts.ServiceDefaults.Errors;

/// <summary>
/// Whether a failure means the database is away (down, restarting, unreachable, out of connections) rather than that
/// the request or the code is wrong: callers are told to retry (503 / gRPC Unavailable) instead of seeing an internal error.
/// </summary>
public static class DatabaseOutage
{
    public static bool Is(Exception error) => error switch
    {
        PostgresException postgres => postgres.IsTransient,
        NpgsqlException => true,
        _ => false,
    };
}
