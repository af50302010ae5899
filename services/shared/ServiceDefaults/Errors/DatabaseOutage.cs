using System.Data.Common;

namespace ScheduledPosts.ServiceDefaults.Errors;

/// <summary>
/// Whether a failure means the database is away (down, restarting, unreachable, out of connections) rather than that
/// the request or the code is wrong: callers are told to retry (503 / gRPC Unavailable) instead of seeing an internal error.
/// </summary>
public static class DatabaseOutage
{
    // Npgsql's PostgresException (the server answered) carries a SQLSTATE and says whether it is transient; any other
    // NpgsqlException (no SQLSTATE) means the server could not be reached or the connection broke.
    public static bool Is(Exception error) => error is DbException database && (database.SqlState is null || database.IsTransient);
}
