using ScheduledPosts.ServiceDefaults;
using ScheduledPosts.Webhooks;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddWebhooksServices();

var app = builder.Build();
app.UseServiceDefaults();
app.MapWebhooksEndpoints();
app.MapDefaultEndpoints();

await app.PrepareWebhooksAsync();
await app.RunAsync();
