using Dapper;
using Npgsql;
using ScheduledPosts.Gateway.ApiKeys;
using ScheduledPosts.ServiceDefaults;

namespace ScheduledPosts.Gateway.Tests;

/// <summary>Keys written straight into the gateway's schema, each in a workspace of its own: set-up that does not depend on the API under test.</summary>
public static class TestKeys
{
    public sealed record Minted(string Key, string KeyId, string WorkspaceId);

    public static async Task<Minted> InsertAsync(string connectionString, string role, IEnumerable<string>? scopes = null)
    {
        string key = ApiKeySecret.Generate();
        string workspaceId = Ids.New("ws");
        string keyId = Ids.New("key");
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.ExecuteAsync("""
            INSERT INTO gateway.workspaces (id, name) VALUES (@workspaceId, @workspaceId);
            INSERT INTO gateway.api_keys (id, workspace_id, name, role, scopes, prefix, hash)
            VALUES (@keyId, @workspaceId, 'test', @role, @scopes, @prefix, @hash);
            """,
            new
            {
                workspaceId,
                keyId,
                role,
                scopes = (scopes ?? Roles.ScopesOf(role)).ToArray(),
                prefix = ApiKeySecret.Prefix(key),
                hash = ApiKeySecret.Hash(key),
            });
        return new Minted(key, keyId, workspaceId);
    }

    public static async Task RevokeAsync(string connectionString, string keyId)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.ExecuteAsync("UPDATE gateway.api_keys SET revoked_at = now() WHERE id = @keyId", new { keyId });
    }
}
