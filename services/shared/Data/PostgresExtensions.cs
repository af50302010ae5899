using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;

namespace ScheduledPosts.ServiceDefaults.Data;

public static class PostgresExtensions
{
    /// <summary>One singleton <see cref="NpgsqlDataSource"/> on <c>ConnectionStrings:Postgres</c>, searching the service's own schema.</summary>
    public static IServiceCollection AddPostgres(this IServiceCollection services, IConfiguration configuration, string schema)
    {
        string connectionString = configuration.GetConnectionString("Postgres")
            ?? throw new InvalidOperationException("ConnectionStrings:Postgres is not configured.");
        var builder = new NpgsqlConnectionStringBuilder(connectionString)
        {
            SearchPath = schema,
            // The services run the same few statements over and over: prepared after their second use, PostgreSQL
            // skips parsing and planning them (Npgsql's automatic preparation). Settings in the connection string win.
            MaxAutoPrepare = new NpgsqlConnectionStringBuilder(connectionString).MaxAutoPrepare is > 0 and var max ? max : 256,
        };
        services.AddSingleton(_ => new NpgsqlDataSourceBuilder(builder.ConnectionString).Build());
        services.AddHealthChecks().AddCheck<PostgresHealthCheck>("postgres", tags: ["ready"]);
        return services;
    }

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
