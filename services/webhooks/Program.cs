using Npgsql;
using ScheduledPosts.ServiceDefaults;
using ScheduledPosts.ServiceDefaults.Data;
using ScheduledPosts.Webhooks;
using ScheduledPosts.Webhooks.Api;
using ScheduledPosts.Webhooks.Endpoints;
using ScheduledPosts.Webhooks.Grpc;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddWebhooksServices();

var app = builder.Build();
app.UseServiceDefaults();
app.MapWebhookEndpointsApi();
app.MapGrpcService<WebhookEndpointsGrpcService>();
app.MapGrpcHealthChecksService();
app.MapGrpcReflectionService();
app.MapDefaultEndpoints();

await Migrations.ApplyAsync(app.Services.GetRequiredService<NpgsqlDataSource>(), WebhookOptions.Schema, typeof(WebhookOptions).Assembly, app.Logger);
await app.Services.GetRequiredService<EndpointRegistry>().ProtectStoredSecretsAsync(CancellationToken.None);
await app.RunAsync();
