using Dapper;
using Npgsql;
using ScheduledPosts.Gateway.ApiKeys;
using ScheduledPosts.ServiceDefaults;
using ScheduledPosts.ServiceDefaults.Errors;

namespace ScheduledPosts.Gateway.Workspaces;

public sealed record WorkspaceView(string Id, string Name, DateTimeOffset CreatedAt);

/// <summary>A new workspace and its first owner key, created together or not at all.</summary>
public sealed class WorkspaceRegistry(NpgsqlDataSource dataSource)
{
    public const int MaxNameLength = 100;

    private sealed class Row
    {
        public string Id { get; set; } = "";
        public DateTime CreatedAt { get; set; }
    }

    public async Task<(WorkspaceView Workspace, MintedApiKey OwnerKey)> CreateAsync(string? name, CancellationToken ct)
    {
        string trimmed = name?.Trim() ?? "";
        if (trimmed.Length == 0 || trimmed.Length > MaxNameLength || trimmed.Any(char.IsControl))
        {
            throw ApiException.Validation("name", $"name is required: 1 to {MaxNameLength} characters, without control characters.");
        }

        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        var workspace = await connection.QuerySingleOrDefaultAsync<Row>(new CommandDefinition(
            "INSERT INTO workspaces (id, name) VALUES (@id, @name) ON CONFLICT (name) DO NOTHING RETURNING id, created_at",
            new { id = Ids.New("ws"), name = trimmed }, tx, cancellationToken: ct));
        if (workspace is null)
        {
            throw ApiException.Conflict($"A workspace named '{trimmed}' already exists.");
        }

        var key = await ApiKeyRegistry.InsertAsync(connection, tx, workspace.Id,
            new ApiKeyRules.NewKey("owner", Roles.Owner, Roles.ScopesOf(Roles.Owner)), ct);
        await tx.CommitAsync(ct);
        return (new WorkspaceView(workspace.Id, trimmed, new DateTimeOffset(DateTime.SpecifyKind(workspace.CreatedAt, DateTimeKind.Utc))), key);
    }
}
