using Dapper;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using ScheduledPosts.Gateway.ApiKeys;
using ScheduledPosts.ServiceDefaults.Data;
using ScheduledPosts.Testing;

namespace ScheduledPosts.Gateway.Tests;

/// <summary>Keys made before the settings scopes existed, as the gateway's migration 002 finds them on upgrade.</summary>
public sealed class SettingsScopesMigrationTests : IAsyncLifetime, IAsyncDisposable
{
    private readonly TestResources _resources = new();
    private string _connectionString = "";

    public async Task InitializeAsync() => _connectionString = await _resources.CreateDatabaseAsync();

    public Task DisposeAsync() => _resources.DisposeAsync().AsTask();

    ValueTask IAsyncDisposable.DisposeAsync() => _resources.DisposeAsync();

    [Fact]
    public async Task Old_keys_keep_reading_the_settings_and_only_owners_and_admins_keep_changing_them()
    {
        await using var dataSource = NpgsqlDataSource.Create(_connectionString);
        await MigrateAsync(dataSource);
        // What the roles' bundles were before: settings went with posts.
        var owner = await TestKeys.InsertAsync(_connectionString, Roles.Owner, [Scopes.PostsRead, Scopes.PostsWrite, Scopes.KeysWrite]);
        var admin = await TestKeys.InsertAsync(_connectionString, Roles.Admin, [Scopes.PostsRead, Scopes.PostsWrite]);
        var editor = await TestKeys.InsertAsync(_connectionString, Roles.Editor, [Scopes.PostsRead, Scopes.PostsWrite, Scopes.AccountsRead]);
        var viewer = await TestKeys.InsertAsync(_connectionString, Roles.Viewer, [Scopes.PostsRead, Scopes.AccountsRead]);
        var webhooksOnly = await TestKeys.InsertAsync(_connectionString, Roles.Admin, [Scopes.WebhooksRead, Scopes.WebhooksWrite]);
        await using (var connection = await dataSource.OpenConnectionAsync())
        {
            await connection.ExecuteAsync("DELETE FROM gateway.schema_migrations WHERE version = '002_settings_scopes'");
        }

        await MigrateAsync(dataSource);
        await MigrateAsync(dataSource); // applied once

        Assert.Equal([Scopes.PostsRead, Scopes.PostsWrite, Scopes.KeysWrite, Scopes.SettingsRead, Scopes.SettingsWrite], await ScopesAsync(dataSource, owner));
        Assert.Equal([Scopes.PostsRead, Scopes.PostsWrite, Scopes.SettingsRead, Scopes.SettingsWrite], await ScopesAsync(dataSource, admin));
        Assert.Equal([Scopes.PostsRead, Scopes.PostsWrite, Scopes.AccountsRead, Scopes.SettingsRead], await ScopesAsync(dataSource, editor));
        Assert.Equal([Scopes.PostsRead, Scopes.AccountsRead, Scopes.SettingsRead], await ScopesAsync(dataSource, viewer));
        Assert.Equal([Scopes.WebhooksRead, Scopes.WebhooksWrite], await ScopesAsync(dataSource, webhooksOnly));
    }

    private static Task MigrateAsync(NpgsqlDataSource dataSource)
        => Migrations.ApplyAsync(dataSource, Extensions.Schema, typeof(Extensions).Assembly, NullLogger.Instance);

    private static async Task<string[]> ScopesAsync(NpgsqlDataSource dataSource, TestKeys.Minted key)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        return await connection.QuerySingleAsync<string[]>("SELECT scopes FROM gateway.api_keys WHERE id = @KeyId", key);
    }
}
