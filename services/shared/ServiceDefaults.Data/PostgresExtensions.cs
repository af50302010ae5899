using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Dapper;
using Npgsql;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace ScheduledPosts.ServiceDefaults.Data;

public static class PostgresExtensions
{
    /// <summary>The key of the unpooled <see cref="NpgsqlDataSource"/> for connections that keep session state (LISTEN).</summary>
    public const string Listener = "listener";

    /// <summary>
    /// One singleton <see cref="NpgsqlDataSource"/> on <c>ConnectionStrings:Postgres</c>, searching the service's own
    /// schema; and, keyed <see cref="Listener"/>, an unpooled one for connections that LISTEN.
    /// </summary>
    public static IServiceCollection AddPostgres(this IServiceCollection services, IConfiguration configuration, string schema)
    {
        // One Dapper convention in every service: snake_case columns map to PascalCase members, so SQL selects plain
        // column names and never aliases them.
        DefaultTypeMap.MatchNamesWithUnderscores = true;
        string connectionString = configuration.GetConnectionString("Postgres")
            ?? throw new InvalidOperationException("ConnectionStrings:Postgres is not configured.");
        var configured = new NpgsqlConnectionStringBuilder(connectionString);
        var builder = new NpgsqlConnectionStringBuilder(connectionString)
        {
            SearchPath = schema,
            // The services run the same few statements over and over: prepared after their second use, PostgreSQL
            // skips parsing and planning them (Npgsql's automatic preparation). Settings in the connection string win.
            MaxAutoPrepare = configured.MaxAutoPrepare is > 0 and var max ? max : 256,
            // A pooled connection comes back as it was lent: no session state is ever set on one (transactions end,
            // advisory locks are transaction-scoped, LISTEN uses the unpooled source below). Skipping the reset saves
            // five statements each time a connection is returned, a dozen times per published target.
            NoResetOnClose = true,
        };
        services.AddSingleton(new PoolSettings(builder.ConnectionString));
        services.AddSingleton(_ => new NpgsqlDataSourceBuilder(builder.ConnectionString).Build());
        services.AddKeyedSingleton(Listener, (_, _) =>
            new NpgsqlDataSourceBuilder(new NpgsqlConnectionStringBuilder(builder.ConnectionString) { Pooling = false }.ConnectionString).Build());
        services.AddHealthChecks().AddCheck<PostgresHealthCheck>("postgres", tags: ["ready"]);
        services.ConfigureOpenTelemetryTracerProvider(tracing => tracing.AddNpgsql());
        services.ConfigureOpenTelemetryMeterProvider(metrics => metrics.AddMeter("Npgsql"));
        return services;
    }

    /// <summary>
    /// A pooled <see cref="NpgsqlDataSource"/> keyed <paramref name="key"/>, on the same database as the main one (call
    /// <see cref="AddPostgres"/> first) but with a pool of its own of at most <paramref name="maxConnections"/>: the work
    /// that uses it never waits for a connection behind the main pool's callers. The server's <c>max_connections</c>
    /// must leave room for both pools of every replica.
    /// </summary>
    public static IServiceCollection AddPostgresPool(this IServiceCollection services, string key, Func<IServiceProvider, int> maxConnections)
        => services.AddKeyedSingleton(key, (provider, _) => new NpgsqlDataSourceBuilder(
            new NpgsqlConnectionStringBuilder(provider.GetRequiredService<PoolSettings>().ConnectionString)
            {
                MaxPoolSize = maxConnections(provider),
            }.ConnectionString).Build());

    private sealed record PoolSettings(string ConnectionString);

    private sealed class PostgresHealthCheck(NpgsqlDataSource dataSource) : IHealthCheck
    {
        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            try
            {
                await using var command = dataSource.CreateCommand("SELECT 1");
                await command.ExecuteScalarAsync(cancellationToken);
                return HealthCheckResult.Healthy();
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException)
            {
                return HealthCheckResult.Unhealthy("PostgreSQL is not reachable.", e);
            }
        }
    }
}
