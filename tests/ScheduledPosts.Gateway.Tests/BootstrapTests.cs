using System.Net;
using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using ScheduledPosts.Gateway.ApiKeys;
using ScheduledPosts.Testing;

namespace ScheduledPosts.Gateway.Tests;

public sealed class BootstrapTests
{
    private sealed class KeyRow
    {
        public string WorkspaceName { get; set; } = "";
        public string Role { get; set; } = "";
        public string[] Scopes { get; set; } = [];
        public string Prefix { get; set; } = "";
        public DateTime? RevokedAt { get; set; }
    }

    [Fact]
    public async Task Starting_twice_on_the_same_database_keeps_one_default_workspace_and_one_owner_key()
    {
        await using var resources = new TestResources();
        string database = await resources.CreateDatabaseAsync();

        for (int start = 0; start < 2; start++)
        {
            await using var gateway = GatewayFactory.Create(database);
            await AssertAuthenticatedAsync(gateway);
        }

        var key = Assert.Single(await KeysAsync(database));
        Assert.Equal("default", key.WorkspaceName);
        Assert.Equal(Roles.Owner, key.Role);
        Assert.Equal(Roles.ScopesOf(Roles.Owner).Order(), key.Scopes.Order());
        Assert.Equal(GatewayFactory.BootstrapKey[..key.Prefix.Length], key.Prefix);
        Assert.Equal(1, await WorkspaceCountAsync(database));
    }

    [Fact]
    public async Task Replicas_starting_together_bootstrap_once()
    {
        await using var resources = new TestResources();
        string database = await resources.CreateDatabaseAsync();
        var replicas = Enumerable.Range(0, 3).Select(_ => GatewayFactory.Create(database)).ToList();
        try
        {
            await Task.WhenAll(replicas.Select(replica => Task.Run(() => replica.Server)));
            foreach (var replica in replicas)
            {
                await AssertAuthenticatedAsync(replica);
            }
        }
        finally
        {
            foreach (var replica in replicas)
            {
                await replica.DisposeAsync();
            }
        }

        Assert.Single(await KeysAsync(database));
        Assert.Equal(1, await WorkspaceCountAsync(database));
    }

    [Fact]
    public async Task A_revoked_bootstrap_key_stays_revoked_across_restarts()
    {
        await using var resources = new TestResources();
        string database = await resources.CreateDatabaseAsync();
        await using (var first = GatewayFactory.Create(database))
        {
            await AssertAuthenticatedAsync(first);
        }

        await using (var connection = new NpgsqlConnection(database))
        {
            await connection.ExecuteAsync("UPDATE gateway.api_keys SET revoked_at = now()");
        }

        await using var second = GatewayFactory.Create(database);
        var response = await second.CreateClient().SendAsync(HttpMethod.Get, "/v1/posts", bearer: GatewayFactory.BootstrapKey);
        await response.AssertEnvelopeAsync(HttpStatusCode.Unauthorized, "UNAUTHENTICATED");
        Assert.NotNull(Assert.Single(await KeysAsync(database)).RevokedAt);
    }

    [Fact]
    public async Task A_new_bootstrap_key_retires_the_one_it_replaces_and_no_other_owner_key()
    {
        await using var resources = new TestResources();
        string database = await resources.CreateDatabaseAsync();
        await using (var first = GatewayFactory.Create(database))
        {
            await AssertAuthenticatedAsync(first);
        }

        // An owner key someone made and named like the bootstrap's: not the bootstrap's to retire.
        string mine = ApiKeySecret.Generate();
        await using (var connection = new NpgsqlConnection(database))
        {
            await connection.ExecuteAsync("""
                INSERT INTO gateway.api_keys (id, workspace_id, name, role, scopes, prefix, hash)
                SELECT 'key_mine', id, 'bootstrap', 'owner', @scopes, @prefix, @hash FROM gateway.workspaces WHERE name = 'default'
                """, new { scopes = Roles.ScopesOf(Roles.Owner).ToArray(), prefix = ApiKeySecret.Prefix(mine), hash = ApiKeySecret.Hash(mine) });
        }

        string rotated = ApiKeySecret.Generate();
        await using var second = GatewayFactory.Create(database, bootstrapKey: rotated);
        var client = second.CreateClient();

        var old = await client.SendAsync(HttpMethod.Get, "/v1/posts", bearer: GatewayFactory.BootstrapKey);
        await old.AssertEnvelopeAsync(HttpStatusCode.Unauthorized, "UNAUTHENTICATED");
        Assert.Equal(HttpStatusCode.NotFound, (await client.SendAsync(HttpMethod.Get, "/v1/nope", bearer: rotated)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.SendAsync(HttpMethod.Get, "/v1/nope", bearer: mine)).StatusCode);
        var keys = await KeysAsync(database);
        Assert.Equal(3, keys.Count);
        Assert.Equal([ApiKeySecret.Prefix(GatewayFactory.BootstrapKey)], keys.Where(k => k.RevokedAt is not null).Select(k => k.Prefix));
    }

    [Fact]
    public async Task Without_a_bootstrap_key_no_workspace_is_created()
    {
        await using var resources = new TestResources();
        string database = await resources.CreateDatabaseAsync();
        await using var gateway = GatewayFactory.Create(database, bootstrapKey: null);

        var response = await gateway.CreateClient().GetAsync("/readyz");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(0, await WorkspaceCountAsync(database));
    }

    [Theory]
    [InlineData("too-short")]
    [InlineData("sp_has a space_0123456789abcdefghijklmnop")]
    public async Task An_unusable_bootstrap_key_fails_start_up_with_a_clear_message(string key)
    {
        await using var resources = new TestResources();
        string database = await resources.CreateDatabaseAsync();
        await using var gateway = GatewayFactory.Create(database, bootstrapKey: key);

        var error = Record.Exception(() => gateway.Server);

        Assert.NotNull(error);
        var validation = Assert.IsType<OptionsValidationException>(Find<OptionsValidationException>(error));
        Assert.Contains("Bootstrap:Key", validation.Message, StringComparison.Ordinal);
        Assert.Equal(0, await WorkspaceCountAsync(database, schemaMayBeMissing: true));
    }

    // "/v1/nope" is a 404 once authenticated and a 401 otherwise: it tells the key works without a service behind.
    private static async Task AssertAuthenticatedAsync(GatewayFactory gateway)
    {
        var response = await gateway.CreateClient().SendAsync(HttpMethod.Get, "/v1/nope", bearer: GatewayFactory.BootstrapKey);
        await response.AssertEnvelopeAsync(HttpStatusCode.NotFound, "NOT_FOUND");
    }

    private static async Task<List<KeyRow>> KeysAsync(string database)
    {
        await using var connection = new NpgsqlConnection(database);
        return [.. await connection.QueryAsync<KeyRow>("""
            SELECT w.name AS WorkspaceName, k.role AS Role, k.scopes AS Scopes, k.prefix AS Prefix, k.revoked_at AS RevokedAt
            FROM gateway.api_keys k JOIN gateway.workspaces w ON w.id = k.workspace_id
            """)];
    }

    private static async Task<long> WorkspaceCountAsync(string database, bool schemaMayBeMissing = false)
    {
        await using var connection = new NpgsqlConnection(database);
        if (schemaMayBeMissing && await connection.ExecuteScalarAsync<string?>("SELECT to_regclass('gateway.workspaces')::text") is null)
        {
            return 0;
        }

        return await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM gateway.workspaces");
    }

    private static Exception? Find<T>(Exception error) where T : Exception
    {
        for (Exception? e = error; e is not null; e = e.InnerException)
        {
            if (e is T)
            {
                return e;
            }

            if (e is AggregateException aggregate && aggregate.InnerExceptions.Select(Find<T>).FirstOrDefault(x => x is not null) is { } found)
            {
                return found;
            }
        }

        return null;
    }
}
