using Dapper;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using ScheduledPosts.Gateway.ApiKeys;
using ScheduledPosts.ServiceDefaults.Data;
using ScheduledPosts.Testing;

namespace ScheduledPosts.Gateway.Tests;

/// <summary>Keys made before <c>posts:approve</c> existed, as the gateway's migration 004 finds them on upgrade.</summary>
public sealed class ApproveScopeMigrationTests : IAsyncLifetime, IAsyncDisposable
{
    private readonly TestResources _resources = new();
    private string _connectionString = "";

    public async Task InitializeAsync() => _connectionString = await _resources.CreateDatabaseAsync();

    public Task DisposeAsync() => _resources.DisposeAsync().AsTask();

    ValueTask IAsyncDisposable.DisposeAsync() => _resources.DisposeAsync();

    [Fact]
    public async Task Owner_and_admin_keys_that_wrote_posts_approve_them_editors_and_narrow_keys_do_not()
    {
        await using var dataSource = NpgsqlDataSource.Create(_connectionString);
        await MigrateAsync(dataSource);
        var owner = await TestKeys.InsertAsync(_connectionString, Roles.Owner, [Scopes.PostsRead, Scopes.PostsWrite, Scopes.SettingsWrite]);
        var admin = await TestKeys.InsertAsync(_connectionString, Roles.Admin, [Scopes.PostsRead, Scopes.PostsWrite]);
        var readOnlyAdmin = await TestKeys.InsertAsync(_connectionString, Roles.Admin, [Scopes.PostsRead]);
        var editor = await TestKeys.InsertAsync(_connectionString, Roles.Editor, [Scopes.PostsRead, Scopes.PostsWrite]);
        await using (var connection = await dataSource.OpenConnectionAsync())
        {
            await connection.ExecuteAsync("DELETE FROM gateway.schema_migrations WHERE version = '004_approve_scope'");
        }

        await MigrateAsync(dataSource);
        await MigrateAsync(dataSource); // applied once

        Assert.Equal([Scopes.PostsRead, Scopes.PostsWrite, Scopes.SettingsWrite, Scopes.PostsApprove], await ScopesAsync(dataSource, owner));
        Assert.Equal([Scopes.PostsRead, Scopes.PostsWrite, Scopes.PostsApprove], await ScopesAsync(dataSource, admin));
        Assert.Equal([Scopes.PostsRead], await ScopesAsync(dataSource, readOnlyAdmin));
        Assert.Equal([Scopes.PostsRead, Scopes.PostsWrite], await ScopesAsync(dataSource, editor));
        Assert.Contains(Scopes.PostsApprove, Roles.ScopesOf(Roles.Admin));
        Assert.DoesNotContain(Scopes.PostsApprove, Roles.ScopesOf(Roles.Editor));
    }

    private static Task MigrateAsync(NpgsqlDataSource dataSource)
        => Migrations.ApplyAsync(dataSource, Extensions.Schema, typeof(Extensions).Assembly, NullLogger.Instance);

    private static async Task<string[]> ScopesAsync(NpgsqlDataSource dataSource, TestKeys.Minted key)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        return await connection.QuerySingleAsync<string[]>("SELECT scopes FROM gateway.api_keys WHERE id = @KeyId", key);
    }
}
