using Dapper;
using Npgsql;
using ScheduledPosts.ServiceDefaults;
using ScheduledPosts.ServiceDefaults.Errors;

namespace ScheduledPosts.Scheduling.Accounts;

public sealed record SocialAccountView(string Id, string Platform, string Handle, string? DisplayName, string Status, DateTimeOffset CreatedAt);

public sealed record ConnectAccountRequest(string? Platform, string? Handle, string? DisplayName);

/// <summary>Social accounts of a workspace: connect, list, get (SPEC §2). Credentials come with the first real connector.</summary>
public sealed class SocialAccounts(NpgsqlDataSource dataSource, TimeProvider clock)
{
    /// <summary>Platforms with a connector in the publisher.</summary>
    public static readonly IReadOnlySet<string> SupportedPlatforms = new HashSet<string>(StringComparer.Ordinal) { "sandbox" };

    private sealed record AccountRow(string Id, string Platform, string Handle, string? DisplayName, string Status, DateTime CreatedAt)
    {
        public SocialAccountView ToView() => new(Id, Platform, Handle, DisplayName, Status, new DateTimeOffset(DateTime.SpecifyKind(CreatedAt, DateTimeKind.Utc)));
    }

    public async Task<SocialAccountView> ConnectAsync(string workspaceId, ConnectAccountRequest request)
    {
        if (string.IsNullOrWhiteSpace(request.Platform))
        {
            throw ApiException.Validation("platform", "platform is required.");
        }

        if (!SupportedPlatforms.Contains(request.Platform))
        {
            throw ApiException.Validation("platform", $"Unsupported platform '{request.Platform}'. Supported: {string.Join(", ", SupportedPlatforms)}.");
        }

        if (string.IsNullOrWhiteSpace(request.Handle) || request.Handle.Length > 255)
        {
            throw ApiException.Validation("handle", "handle is required (at most 255 characters).");
        }

        var row = new AccountRow(Ids.New("acc"), request.Platform, request.Handle, request.DisplayName, "active", clock.GetUtcNow().UtcDateTime);
        await using var connection = await dataSource.OpenConnectionAsync();
        await connection.ExecuteAsync("""
            INSERT INTO social_accounts (id, workspace_id, platform, handle, display_name, status, created_at)
            VALUES (@Id, @workspaceId, @Platform, @Handle, @DisplayName, @Status, @CreatedAt)
            """, new { row.Id, workspaceId, row.Platform, row.Handle, row.DisplayName, row.Status, row.CreatedAt });
        return row.ToView();
    }

    public async Task<IReadOnlyList<SocialAccountView>> ListAsync(string workspaceId)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        var rows = await connection.QueryAsync<AccountRow>("""
            SELECT id, platform, handle, display_name AS DisplayName, status, created_at AS CreatedAt
            FROM social_accounts WHERE workspace_id = @workspaceId ORDER BY id
            """, new { workspaceId });
        return rows.Select(r => r.ToView()).ToList();
    }

    public async Task<SocialAccountView> GetAsync(string workspaceId, string id)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        var row = await connection.QuerySingleOrDefaultAsync<AccountRow>("""
            SELECT id, platform, handle, display_name AS DisplayName, status, created_at AS CreatedAt
            FROM social_accounts WHERE workspace_id = @workspaceId AND id = @id
            """, new { workspaceId, id });
        return row?.ToView() ?? throw ApiException.NotFound("Social account");
    }
}
