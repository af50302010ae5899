using Dapper;
using Npgsql;

namespace ScheduledPosts.ServiceDefaults.Data;

public static class BatchedDelete
{
    /// <summary>
    /// Runs a retention <c>DELETE</c> that takes <c>@window</c> and at most <c>@batch</c> rows per statement, again and
    /// again until a statement deletes fewer: short statements, so a large backlog never holds its locks for long.
    /// Returns how many rows went.
    /// </summary>
    public static async Task<int> DeleteInBatchesAsync(this NpgsqlDataSource dataSource, string sql, TimeSpan window, int batch, CancellationToken ct)
    {
        int total = 0;
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        while (true)
        {
            int deleted = await connection.ExecuteAsync(new CommandDefinition(sql, new { window, batch }, cancellationToken: ct));
            total += deleted;
            if (deleted < batch)
            {
                return total;
            }
        }
    }
}
